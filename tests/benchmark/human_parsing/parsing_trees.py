"""Tiny DensePose-COCO and Market-1501 trees of drawn people (with exact part labels) for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from reid_datasets.parts import densepose14_to_7

MARKET = "Market-1501-v15.09.15"
# DensePose parts: 1 torso, 2/3 hands, 4/5 feet, 6/7 upper legs, 8/9 lower legs,
# 10/11 upper arms, 12/13 lower arms, 14 head. Each entry: (part, top, bottom, left, right)
# as fractions of the person box; a person's right is the image's left.
LAYOUT_14 = (
    (1, 0.15, 0.52, 0.28, 0.72),
    (11, 0.16, 0.34, 0.14, 0.28),
    (10, 0.16, 0.34, 0.72, 0.86),
    (13, 0.34, 0.50, 0.12, 0.27),
    (12, 0.34, 0.50, 0.73, 0.88),
    (2, 0.50, 0.56, 0.12, 0.26),
    (3, 0.50, 0.56, 0.74, 0.88),
    (6, 0.52, 0.73, 0.30, 0.49),
    (7, 0.52, 0.73, 0.51, 0.70),
    (8, 0.73, 0.93, 0.31, 0.48),
    (9, 0.73, 0.93, 0.52, 0.69),
    (5, 0.93, 1.00, 0.26, 0.48),
    (4, 0.93, 1.00, 0.52, 0.74),
    (14, 0.00, 0.15, 0.36, 0.64),
)
MARKET_FOLDERS = {
    "bounding_box_train": ("0002_c1s1_000451_03", "0002_c2s1_000551_01", "0007_c3s1_000101_01"),
    "query": ("0003_c1s1_000001_00",),
    "bounding_box_test": ("0003_c2s1_000001_00", "0000_c4s1_000003_00", "-1_c1s1_000004_00"),
}


def draw_person(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A 14-part map [h, w] uint8 of a jittered standing figure filling the box."""
    part14 = np.zeros((h, w), dtype=np.uint8)
    dx, dy = rng.uniform(-0.04, 0.04, size=2)
    for part, top, bottom, left, right in LAYOUT_14:
        t, b = int(round((top + dy) * h)), int(round((bottom + dy) * h))
        lo, hi = int(round((left + dx) * w)), int(round((right + dx) * w))
        part14[max(t, 0) : max(b, t + 1), max(lo, 0) : max(hi, lo + 1)] = part
    return part14


def paint(rng: np.random.Generator, part14: np.ndarray) -> np.ndarray:
    """RGB [h, w, 3]: skin, top, trousers and shoe colours drawn per person, noisy background."""
    skin, top, trousers, shoes = (rng.integers(0, 256, size=3) for _ in range(4))
    colour = {
        1: top,
        10: top,
        11: top,
        12: top,
        13: top,
        6: trousers,
        7: trousers,
        8: trousers,
        9: trousers,
        4: shoes,
        5: shoes,
        2: skin,
        3: skin,
        14: skin,
    }
    rgb = rng.integers(0, 256, size=(1, 1, 3)) + rng.normal(0, 25, size=(*part14.shape, 3))
    for part, c in colour.items():
        rgb[part14 == part] = c + rng.normal(0, 8, size=3)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def make_coco(root: Path, n: int = 24, seed: int = 0) -> Path:
    """``root/coco`` with ``n`` one-person images and their DensePose ``dp_masks``."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(n):
        ph, pw = int(rng.integers(40, 64)), int(rng.integers(18, 30))
        x, y = int(rng.integers(0, 80 - pw)), int(rng.integers(0, 80 - ph))
        part14 = np.zeros((80, 80), dtype=np.uint8)
        part14[y : y + ph, x : x + pw] = draw_person(rng, ph, pw)
        name = f"COCO_train2014_{i:012d}.jpg"
        path = root / "coco" / "train2014" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(paint(rng, part14)).save(path, quality=95)
        dp = np.asarray(
            Image.fromarray(part14[y : y + ph, x : x + pw]).resize((256, 256), Image.NEAREST)
        )
        masks = [rle(dp == p) if (dp == p).any() else [] for p in range(1, 15)]
        images.append({"id": i + 1, "file_name": name, "width": 80, "height": 80})
        anns.append(
            {
                "id": 100 + i,
                "image_id": i + 1,
                "bbox": [x, y, pw, ph],
                "dp_masks": masks,
                "category_id": 1,
                "iscrowd": 0,
            }
        )
    ann_dir = root / "coco" / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    data = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    (ann_dir / "densepose_coco_2014_train.json").write_text(json.dumps(data))
    return root / "coco"


def make_market(root: Path, size: tuple[int, int] = (64, 32), seed: int = 1) -> Path:
    """Market-1501 images of drawn people (``size`` = (H, W)) and their ``_gt_label`` tree."""
    rng = np.random.default_rng(seed)
    h, w = size
    for folder, stems in MARKET_FOLDERS.items():
        for stem in stems:
            part14 = np.zeros((h, w), dtype=np.uint8)
            part14[2 : h - 2, 3 : w - 3] = draw_person(rng, h - 4, w - 6)
            image = root / MARKET / folder / f"{stem}.jpg"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(paint(rng, part14)).save(image, quality=95)
            label = root / f"{MARKET}_gt_label" / folder / f"{stem}.png"
            label.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(densepose14_to_7(part14), "L").save(label)
    return root / MARKET
