"""Write images, label PNGs and DensePose-COCO JSON exactly in the real releases' formats."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from benchmark.atomic import atomic_path, write_text_atomic

DP_SIZE = 256  # dp_masks are 256x256 inside the person box (DensePose-COCO)
JPEG_QUALITY = 90
LABEL_SUFFIX = "_gt_label"  # ground-truth part labels: <release>_gt_label/<folder>/<stem>.png


def market_name(pid: int, cam: int, seq: int, frame: int, box: int) -> str:
    """Market-1501 file name, e.g. ``0002_c1s1_000451_03.jpg`` (pid -1 is written ``-1``)."""
    head = "-1" if pid < 0 else f"{pid:04d}"
    return f"{head}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg"


def label_relpath(image_relpath: str) -> str:
    """Where the label PNG of an image lives: the release folder gets ``_gt_label``.

    ``Market-1501-v15.09.15/query/0001_c1s1_000001_01.jpg`` ->
    ``Market-1501-v15.09.15_gt_label/query/0001_c1s1_000001_01.png``.
    """
    path = PurePosixPath(image_relpath)
    release, *rest = path.parts
    return str(PurePosixPath(release + LABEL_SUFFIX, *rest).with_suffix(".png"))


def save_image(path: Path, rgb: np.ndarray) -> None:
    """Save an [H, W, 3] uint8 image as JPEG (deterministic bytes for the same pixels).

    Atomic without fsync: the generator's in-progress marker already covers a crash, and
    thousands of fsyncs would dominate the generation time.
    """
    with atomic_path(path, durable=False) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="JPEG", quality=JPEG_QUALITY)


def save_label(path: Path, label: np.ndarray) -> None:
    """Save an [H, W] uint8 part label map as a single-channel ("L") PNG."""
    assert label.dtype == np.uint8 and label.ndim == 2, "labels are 2-D uint8 maps"
    with atomic_path(path, durable=False) as tmp:  # as save_image
        Image.fromarray(label, "L").save(tmp, format="PNG")


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE of a 2-D bool/uint8 mask, with ``counts`` as a str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def box_to_dp(part14: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """Cut a 14-part map to an integer box (x, y, w, h) and resize it to 256x256 (nearest)."""
    x, y, w, h = bbox
    crop = Image.fromarray(part14[y : y + h, x : x + w])
    return np.asarray(crop.resize((DP_SIZE, DP_SIZE), Image.Resampling.NEAREST))


def dp_masks(part14_256: np.ndarray) -> list[Any]:
    """The 14 ``dp_masks`` entries of a 256x256 part map: RLE per part, ``[]`` when absent."""
    out: list[Any] = []
    for part in range(1, 15):
        m = part14_256 == part
        out.append(encode_rle(m) if m.any() else [])
    return out


def coco_annotation(ann_id: int, image_id: int, part14: np.ndarray) -> dict[str, Any] | None:
    """A DensePose-COCO person annotation from one person's visible 14-part map in the image.

    Args:
        ann_id: annotation id.
        image_id: the image it belongs to.
        part14: [H, W] uint8 labels of this person only (0 elsewhere, hidden pixels included).

    Returns:
        The annotation dict, or None when the person is not visible at all.
    """
    visible = part14 > 0
    if not visible.any():
        return None
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    x, y = int(cols.min()), int(rows.min())
    w, h = int(cols.max()) - x + 1, int(rows.max()) - y + 1
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "bbox": [float(x), float(y), float(w), float(h)],
        "area": float(visible.sum()),
        "iscrowd": 0,
        "segmentation": encode_rle(visible),
        "dp_masks": dp_masks(box_to_dp(part14, (x, y, w, h))),
    }


def coco_document(images: list[dict], annotations: list[dict]) -> dict[str, Any]:
    """A COCO JSON document with the person category."""
    return {
        "info": {"description": "synthetic DensePose-COCO-format parsing set", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }


def write_json(path: Path, obj: Any) -> None:
    """Write compact JSON with sorted keys atomically (``benchmark.atomic``)."""
    write_text_atomic(json.dumps(obj, indent=None, sort_keys=True), path)
