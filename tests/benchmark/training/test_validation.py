"""Validation split of training identities and the per-epoch validation metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.config import apply_overrides
from benchmark.errors import ConfigError, DataError
from benchmark.evaluation.validation import (
    OccludedQueries,
    Validator,
    split_validation,
    validate,
    write_validation,
)
from benchmark.profiles import get_profile
from reid_datasets.base import Sample
from reid_methods.base import Output


def _samples(root: Path | None = None, pids: int = 6) -> list[Sample]:
    """Per identity: cameras 1 and 2, two images each, in one colour per identity."""
    out = []
    for pid in range(1, pids + 1):
        for cam in (0, 1):
            for k in range(2):
                path = Path(f"{pid:04d}_c{cam + 1}s1_{k:06d}_00.png")
                if root is not None:
                    path = root / path
                    colour = np.array([40 * pid, 255 - 40 * pid, 100], dtype=np.uint8)
                    Image.fromarray(np.tile(colour, (16, 8, 1))).save(path)
                out.append(Sample(path, pid, cam))
    return out


def test_split_holds_out_seeded_identities_with_query_per_camera() -> None:
    samples = _samples(pids=20)
    train, split = split_validation(samples, 0.1, seed=3)
    assert split is not None and len(split.pids) == 2, "10% of 20 identities"
    assert split_validation(samples, 0.1, seed=3)[1] == split, "the same seed, the same split"
    assert {s.pid for s in train}.isdisjoint(split.pids), "held-out ids never train"
    assert len(train) + len(split.query) + len(split.gallery) == len(samples), "nothing lost"
    # per identity and camera the first image (path order) is the query: k = 0
    assert sorted((s.pid, s.camid) for s in split.query) == [
        (p, c) for p in split.pids for c in (0, 1)
    ], "one query per identity and camera"
    assert all("_000000_" in s.path.name for s in split.query), "the first image is the query"
    assert all("_000001_" in s.path.name for s in split.gallery), "the rest is the gallery"


def test_split_zero_keeps_everything_and_at_least_one_id_otherwise() -> None:
    samples = _samples(pids=6)
    train, split = split_validation(samples, 0.0, seed=0)
    assert split is None and len(train) == len(samples), "no validation"
    _, split = split_validation(samples, 0.01, seed=0)
    assert split is not None and len(split.pids) == 1, "a positive fraction holds out one id"
    with pytest.raises(DataError, match="leaving none to train on"):
        split_validation(_samples(pids=1), 0.5, seed=0)


def test_val_ids_setting_is_checked_and_profiles_hold_out_five_percent() -> None:
    with pytest.raises(ConfigError, match="train.val_ids must be < 1"):
        apply_overrides(get_profile("smoke"), ["train.val_ids=1"])
    assert get_profile("cpu").train.val_ids == 0.05, "cpu profile validates"
    assert get_profile("paper").train.val_ids == 0.0, "paper trains on every identity"
    assert get_profile("official").train.val_ids == 0.0, "official too"


class _Colour(torch.nn.Module):
    """A fake global method: the feature is the image's mean colour."""

    def forward(self, images: torch.Tensor) -> Output:
        feats = images.mean((2, 3))[:, None]  # [N, 1, 3]
        return Output(feats, torch.ones(len(images), 1))


def test_validate_ranks_held_out_identities(tmp_path: Path) -> None:
    _, split = split_validation(_samples(tmp_path), 0.5, seed=0)
    assert split is not None
    v = Validator(split, (), None, (16, 8), 8, "paper", every=2, epochs=5, device="cpu")
    metrics = validate(_Colour(), v)
    # a query's only same-camera match is excluded; the other camera's two images match it
    assert metrics == {"val_rank1": 1.0, "val_mAP": 1.0}, "colour identifies the person"
    assert [v.due(e) for e in range(5)] == [False, True, False, True, True], "every 2 and last"
    assert v(_Colour(), 0) == {}, "not due: nothing computed"


def test_validation_json_records_held_out_ids(tmp_path: Path) -> None:
    _, split = split_validation(_samples(), 0.5, seed=1)
    path = write_validation(split, 0.5, 1, tmp_path)
    record = json.loads(path.read_text())
    assert record["pids"] == list(split.pids) and record["val_seed"] == 1, "ids and seed"
    assert len(record["query_images"]) == len(split.query), "query images listed"


def _labelled(root: Path, pids: int = 4) -> list[Sample]:
    """64x32 images of one colour per identity, a 7-part body label (rows 6-61, cols 8-23)."""
    out = []
    label = np.zeros((64, 32), dtype=np.uint8)
    for code, (top, bottom) in enumerate(((6, 14), (14, 34), (34, 48), (48, 62)), start=1):
        label[top:bottom, 8:24] = code  # 7-part codes 1-4: head, torso, arms, upper legs
    for pid in range(1, pids + 1):
        for cam in (0, 1):
            for k in range(2):
                name = f"{pid:04d}_c{cam + 1}s1_{k:06d}_00"
                colour = np.array([40 * pid, 255 - 40 * pid, 100], dtype=np.uint8)
                Image.fromarray(np.tile(colour, (64, 32, 1))).save(root / f"{name}.png")
                Image.fromarray(label).save(root / f"{name}_label.png")
                out.append(Sample(root / f"{name}.png", pid, cam, root / f"{name}_label.png"))
    return out


def test_occluded_queries_hide_part_of_the_body_the_same_way_every_time(tmp_path: Path) -> None:
    samples = _labelled(tmp_path)
    images = OccludedQueries(samples, (64, 32), seed=0)
    body = np.zeros((64, 32), dtype=bool)
    body[6:62, 8:24] = True
    plain = np.asarray(Image.open(samples[0].path))
    hidden = []
    for i in range(len(samples)):
        image, parts = images.decoded(i)
        assert parts is None and image.shape == (64, 32, 3) and image.dtype == np.uint8
        changed = (image != np.asarray(Image.open(samples[i].path))).any(axis=2)
        hidden.append(changed[body].mean())
    assert 0.1 < np.mean(hidden) < 0.8, f"about 40% of the body hidden on average: {hidden}"
    again = OccludedQueries(samples, (64, 32), seed=0).decoded(0)[0]
    assert np.array_equal(again, images.decoded(0)[0]), "seeded: the same occluder every epoch"
    other = OccludedQueries(samples, (64, 32), seed=1)
    assert any(not np.array_equal(other.decoded(i)[0], images.decoded(i)[0]) for i in range(4)), (
        "another seed, other occluders"
    )
    assert not np.array_equal(images.decoded(0)[0], plain), "the query is occluded"


def test_validate_scores_occluded_queries_against_the_same_gallery(tmp_path: Path) -> None:
    samples = _labelled(tmp_path)
    _, split = split_validation(samples, 0.5, seed=0)
    assert split is not None
    by_path = {s.path: s for s in samples}
    queries = [by_path[s.path] for s in split.query]
    occluded = OccludedQueries(queries, (64, 32), seed=0)
    v = Validator(split, (), occluded, (64, 32), 8, "paper", every=1, epochs=1, device="cpu")
    metrics = validate(_Colour(), v)
    assert metrics["val_rank1"] == 1.0, "holistic queries: the colour identifies the person"
    assert set(metrics) == {"val_rank1", "val_mAP", "val_occ_rank1", "val_occ_mAP"}
    assert 0.0 <= metrics["val_occ_mAP"] <= metrics["val_mAP"], "occluders blur the colour"
    torch.manual_seed(5)
    validate(_Colour(), v)
    after = torch.rand(3)
    torch.manual_seed(5)
    validate(_Colour(), Validator(split, (), None, (64, 32), 8, "paper", 1, 1, "cpu"))
    assert torch.equal(after, torch.rand(3)), "occluded queries leave training's stream alone"
