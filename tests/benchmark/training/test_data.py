"""Data pipeline: PK sampler, paired flip of image and part labels, bad images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.errors import DataError
from benchmark.loading.data import PKSampler, ReIDImages, require_identities
from benchmark.loading.transforms import PairedTransform
from reid_datasets.base import Sample


def test_pk_sampler_batches_and_determinism() -> None:
    labels = [i // 5 for i in range(50)] + [10, 10]  # identity 10 has only 2 images
    sampler = PKSampler(labels, p=4, k=4, iters=6, seed=3)
    batches = list(sampler)
    assert len(batches) == 6
    for b in batches:
        ids = [labels[i] for i in b]
        assert len(b) == 16 and len(set(ids)) == 4, f"not 4 ids x 4 images: {ids}"
        assert all(ids.count(i) == 4 for i in set(ids))
    assert batches == list(PKSampler(labels, 4, 4, 6, seed=3)), "same seed and epoch must repeat"
    sampler.set_epoch(1)
    assert list(sampler) != batches, "a new epoch must draw new batches"


def test_pk_sampler_too_few_ids() -> None:
    with pytest.raises(DataError, match="fewer than 8") as err:
        PKSampler([0, 1, 2], p=8, k=2, iters=None, seed=0)
    assert "train.val_ids" in str(err.value), "the validation split carves identities out"
    with pytest.raises(DataError, match=r"3 identities \(2 held out by train.val_ids") as err:
        require_identities(3, 4, held=2)
    assert "lower train.ids_per_batch or train.val_ids" in str(err.value), str(err.value)
    require_identities(4, 4, held=2)  # exactly P identities fill a batch


def write_pair(tmp_path, name: str = "0001_c1s1_000001_00") -> Sample:
    img = np.zeros((32, 16, 3), np.uint8)
    img[:, :8] = 255  # left half white
    label = np.zeros((32, 16), np.uint8)
    label[:, :8] = 2  # torso (7-part code 2 -> 4-part code 2) on the left
    Image.fromarray(img).save(tmp_path / f"{name}.png")
    Image.fromarray(label).save(tmp_path / f"{name}_label.png")
    return Sample(tmp_path / f"{name}.png", 1, 0, tmp_path / f"{name}_label.png")


def test_flip_moves_image_and_labels_together(tmp_path) -> None:
    ds = ReIDImages(
        [write_pair(tmp_path)], (32, 16), with_parts=True, transform=PairedTransform(flip=True)
    )
    seen = set()
    torch.manual_seed(0)
    for _ in range(20):
        image, _, parts, _ = ds[0]
        bright_left = bool(image[0, :, :8].mean() > image[0, :, 8:].mean())
        label_left = bool(parts[:, :8].float().mean() > parts[:, 8:].float().mean())
        assert bright_left == label_left, "image and part labels must flip together"
        seen.add(bright_left)
    assert seen == {True, False}, "both orientations should occur"


def test_corrupt_image_and_label_errors(tmp_path) -> None:
    sample = write_pair(tmp_path)
    bad = tmp_path / "0002_c1s1_000001_00.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot read image"):
        ReIDImages([Sample(bad, 2, 0)], (32, 16))[0]
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(sample.label_path)
    with pytest.raises(DataError, match="not a single-channel 16x32"):
        ReIDImages([sample], (32, 16), with_parts=True)[0]


def test_blackout_fills_the_mean_among_all_parts() -> None:
    """Official occlude_part: 1 or 2 of the 4 part codes (present or not), mean-filled."""
    from benchmark.loading.transforms import MEAN, black_out_parts, normalise

    image = torch.ones(3, 8, 4)
    parts = torch.tensor(
        [[1] * 4] * 2 + [[2] * 4] * 2 + [[3] * 4] * 2 + [[0] * 4] * 2, dtype=torch.uint8
    )  # part 4 absent
    torch.manual_seed(0)
    hidden_sets = set()
    for _ in range(400):
        out, labels = black_out_parts(image, parts)
        hidden = (labels == 0) & (parts > 0)
        assert (out[:, hidden] == MEAN.view(3, 1)).all(), "blacked-out pixels take the mean"
        assert (normalise(out)[:, hidden] == 0).all(), "which is 0 once normalised"
        assert (out[:, ~hidden] == 1).all() and (labels[~hidden] == parts[~hidden]).all()
        hidden_sets.add(tuple(sorted(parts[hidden].unique().tolist())))
    # 1 or 2 of 4 codes: 4 + 6 = 10 equally likely draws; those with part 4 hide less
    assert () in hidden_sets, "drawing only the absent part 4 hides nothing"
    assert {(1,), (2,), (3,), (1, 2), (1, 3), (2, 3)} <= hidden_sets, sorted(hidden_sets)
    assert all(len(h) <= 2 for h in hidden_sets), "at most 2 parts"


def test_blackout_probability_and_draw_frequencies() -> None:
    """P(blackout) = p; 1 or 2 parts with p 1/2 each, each code drawn alike."""
    from benchmark.loading.transforms import PairedTransform

    parts = torch.arange(16, dtype=torch.uint8).view(4, 4) % 5  # every code 0-4 present
    image = torch.ones(3, 4, 4)
    t = PairedTransform(blackout=0.5)
    torch.manual_seed(1)
    n, applied, two, per_code = 4000, 0, 0, torch.zeros(5)
    for _ in range(n):
        _, labels = t(image, parts)
        gone = parts[(labels == 0) & (parts > 0)].unique()
        applied += len(gone) > 0
        two += len(gone) == 2
        per_code[gone.long()] += 1
    assert abs(applied / n - 0.5) < 0.03, f"applied {applied / n}"
    assert abs(two / applied - 0.5) < 0.04, f"two parts in {two / applied} of blackouts"
    share = per_code[1:] / per_code[1:].sum()
    assert (share - 0.25).abs().max() < 0.03, f"codes drawn unevenly: {share.tolist()}"
    torch.manual_seed(1)
    untouched = PairedTransform()(image, parts)
    assert untouched[1] is parts, "no blackout by default (paper profile)"


def test_official_jitter_draws() -> None:
    """Official enhance_aug: skipped with p 0.5, else each op with p 0.7, official ranges."""
    from benchmark.loading.transforms import OPERATIONS, draw_jitter

    torch.manual_seed(2)
    plans = [draw_jitter() for _ in range(4000)]
    empty = sum(not p for p in plans) / len(plans)
    assert abs(empty - (0.5 + 0.5 * 0.3**5)) < 0.03, f"no-op share {empty}"
    for name in OPERATIONS:
        share = sum(any(op == name for op, _ in p) for p in plans) / len(plans)
        assert abs(share - 0.35) < 0.03, f"{name} applied in {share}, official 0.5 x 0.7"
    blur = {v for p in plans for op, v in p if op == "blur"}
    assert blur == {1.0, 2.0}, f"blur radii {blur}"
    factors = [v for p in plans for op, v in p if op != "blur"]
    assert 0.6 <= min(factors) < 0.62 and 1.38 < max(factors) <= 1.4, "factors U(0.6, 1.4)"
    firsts = {p[0][0] for p in plans if p}
    assert firsts == set(OPERATIONS), "the order is shuffled"


def test_jitter_operations_hand_computed() -> None:
    from benchmark.loading.transforms import jitter

    image = torch.full((3, 16, 8), 0.5)
    torch.testing.assert_close(jitter(image, [("brightness", 1.2)]), torch.full_like(image, 0.6))
    torch.testing.assert_close(jitter(image, [("gamma", 1.4)]), image**1.4)
    torch.testing.assert_close(jitter(image, [("blur", 2.0)]), image, msg="flat stays flat")
    assert (jitter(image + 0.4, [("brightness", 1.4)]) == 1.0).all(), "clamped to [0, 1]"
    assert jitter(image, []).equal(image), "an empty plan changes nothing"


def test_official_coco_stream_gets_the_reid_transforms() -> None:
    """The official profile blacks out parts in COCO batches too (the code's cd_train list)."""
    import types

    from benchmark.profiles import get_profile
    from benchmark.run.runner import RunData, make_streams
    from reid_datasets.base import Splits
    from reid_methods import build_method

    cfg = get_profile("official")
    labels = [i % 16 for i in range(32)]  # the official batch: 16 identities x 4 images
    train = Splits(
        "market1501", train=tuple(Sample(Path(f"{i}.jpg"), p, 0) for i, p in enumerate(labels))
    )
    box = types.SimpleNamespace(bbox=(0, 0, 10, 40))
    data = RunData(Path("."), "real", train, {}, coco=(box,) * 4)
    model = build_method("hpnet", 4, backbone="resnet18_quarter", head_dim=8)
    streams = make_streams(cfg, data, model, labels, seed=0)
    want = PairedTransform(flip=True, photometric=True, blackout=0.5)
    assert streams.reid.dataset.transform == want, streams.reid.dataset.transform
    assert streams.coco is not None and streams.coco.dataset.transform == want
    assert streams.reid.batch_sampler.per_identity, "official: an epoch visits each identity once"


def test_pk_sampler_per_identity_epoch_visits_every_identity_once() -> None:
    """The official RandomIdentitySampler: a permutation of the identities, P per batch."""
    labels = [i // 3 for i in range(30)]  # 10 identities x 3 images
    sampler = PKSampler(labels, p=4, k=2, iters=None, seed=0, per_identity=True)
    assert len(sampler) == 2, "10 identities // 4 per batch, the rest dropped"
    batches = list(sampler)
    ids = [labels[i] for b in batches for i in b[::2]]
    assert len(set(ids)) == 8 and all(len(b) == 8 for b in batches), f"ids {ids}"
    assert len(PKSampler(labels, 4, 2, None, 0)) == 30 // 8, "default: images // (P x K)"
    longer = list(PKSampler(labels, 4, 2, 5, 0, per_identity=True))  # 3 permutations
    for b in longer:
        assert len({labels[i] for i in b}) == 4, "a batch never repeats an identity"
