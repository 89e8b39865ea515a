"""Partial crops presented at other scales: a synthetic-only diagnostic of zoom vs occlusion.

The paper's protocol stretches each partial crop to the input size (on average a 2.25x zoom on
the synthetic sets), so a model that never saw a person at that scale fails on zoom, not on
occlusion. The synthetic data record where each crop was cut from its source image
(``synthetic_images.csv``, ``source_box``), so the same crop can also be shown

- ``in place``: pasted back at its source position at native scale, on a blank canvas of the
  source size (what the camera saw, with everything below the occluder blanked);
- at a ``zoom`` z: scaled by z about the top centre of its source box (z = 1 is in place).

The stretched presentation stays the test set's definition; these are diagnostics beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import DataError
from benchmark.loading.synthetic_meta import read_meta
from reid_datasets.base import Sample, Splits

BLANK = (124, 116, 104)  # the ImageNet mean in 0-255: 0 after the loaders' normalisation


@dataclass(frozen=True)
class Crop:
    """A partial crop and where it was cut from: (y0, y1, x0, x1) in a (height, width) image."""

    box: tuple[int, int, int, int]
    size: tuple[int, int]


def source_boxes(root: Path, size: tuple[int, int]) -> dict[str, Crop]:
    """Each partial crop's source box under the synthetic data ``root`` (path relative to it)."""
    crops = {}
    for row in read_meta(root):
        if row["source_box"]:
            y0, y1, x0, x1 = map(int, row["source_box"].split())
            crops[row["path"]] = Crop((y0, y1, x0, x1), size)
    return crops


def stretch_zoom(crop: Crop) -> float:
    """The zoom the stretched presentation applies: the mean of its two axis scales."""
    y0, y1, x0, x1 = crop.box
    height, width = crop.size
    return (height / (y1 - y0) + width / (x1 - x0)) / 2


def present(image: np.ndarray, crop: Crop, zoom: float) -> np.ndarray:
    """``image`` (the crop, [h, w, 3] uint8) scaled by ``zoom`` about the top centre of its
    source box, on a blank canvas of the source size; [H, W, 3] uint8."""
    y0, y1, x0, x1 = crop.box
    height, width = crop.size
    h, w = max(1, round((y1 - y0) * zoom)), max(1, round((x1 - x0) * zoom))
    scaled = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))
    top, left = y0, round((x0 + x1) / 2 - w / 2)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BLANK
    # the part of the scaled crop that falls inside the canvas
    cy0, cx0 = max(top, 0), max(left, 0)
    cy1, cx1 = min(top + h, height), min(left + w, width)
    if cy1 > cy0 and cx1 > cx0:
        canvas[cy0:cy1, cx0:cx1] = scaled[cy0 - top : cy1 - top, cx0 - left : cx1 - left]
    return canvas


def presented_splits(
    splits: Splits, root: Path, crops: dict[str, Crop], zoom: float, out: Path
) -> Splits:
    """``splits`` with each query written at ``zoom`` under ``out`` (same names, same gallery)."""
    queries = []
    for sample in splits.query:
        rel = Path(sample.path).resolve().relative_to(Path(root).resolve()).as_posix()
        if rel not in crops:
            raise DataError(f"{sample.path} has no source box; is it a synthetic partial crop?")
        with Image.open(sample.path) as im:
            image = np.asarray(im.convert("RGB"))
        target = Path(out) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(present(image, crops[rel], zoom)).save(target.with_suffix(".png"))
        queries.append(Sample(target.with_suffix(".png"), sample.pid, sample.camid))
    return Splits(splits.name, query=tuple(queries), gallery=splits.gallery, info=splits.info)
