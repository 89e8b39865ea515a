"""Data pipeline: PK sampler, paired flip of image and part labels, bad images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.errors import DataError
from benchmark.training.data import PKSampler, ReIDImages
from benchmark.training.transforms import PairedTransform
from datasets.base import Sample


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
    with pytest.raises(DataError, match="fewer than 8"):
        PKSampler([0, 1, 2], p=8, k=2, iters=None, seed=0)


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


def test_blackout_hides_parts_in_image_and_labels() -> None:
    from benchmark.training.transforms import black_out_parts

    torch.manual_seed(0)
    image = torch.ones(3, 8, 4)
    parts = torch.tensor(
        [[1] * 4] * 2 + [[2] * 4] * 2 + [[3] * 4] * 2 + [[0] * 4] * 2, dtype=torch.uint8
    )
    out, labels = black_out_parts(image, parts)
    hidden = (labels == 0) & (parts > 0)
    assert 1 <= len(parts[hidden].unique()) <= 2, "1-2 parts are blacked out"
    assert (out[:, hidden] == 0).all() and (out[:, ~hidden] == 1).all(), (
        "only their pixels go black"
    )
