"""Tiny data trees in the real releases' on-disk formats (a few pixels per image) for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

IMAGE_SIZE = (4, 8)  # (width, height): a person-shaped thumbnail

MARKET_TRAIN = ("0002_c1s1_000451_03", "0002_c2s1_000551_01", "0007_c3s1_000101_01")
MARKET_QUERY = ("0003_c1s1_000001_00", "0005_c6s1_000002_00")
# Two identities, one distractor (0000) and two junk (-1) images.
MARKET_GALLERY = (
    "0003_c2s1_000001_00",
    "0005_c1s1_000002_00",
    "0000_c4s1_000003_00",
    "-1_c1s1_000004_00",
    "-1_c2s1_000005_00",
)
MARKET_FOLDERS = {
    "bounding_box_train": MARKET_TRAIN,
    "query": MARKET_QUERY,
    "bounding_box_test": MARKET_GALLERY,
}


def write_image(path: Path, size: tuple[int, int] = IMAGE_SIZE, value: int = 128) -> Path:
    """Write a tiny RGB image; the format follows the extension (.jpg, .tif, .bmp, ...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        path.suffix.lower(), path.suffix.lower().lstrip(".").upper()
    )
    Image.new("RGB", size, (value, 64, 32)).save(path, format=fmt)
    return path


def write_label(path: Path, size: tuple[int, int] = IMAGE_SIZE, value: int = 2) -> Path:
    """Write a single-channel 7-part label PNG filled with ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path, format="PNG")
    return path


def write_clutter(folder: Path) -> None:
    """The files that archives and file browsers leave in real releases."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Thumbs.db").write_bytes(b"\x00clutter")
    (folder / ".DS_Store").write_bytes(b"\x00clutter")
    (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (folder / "._0001_01.jpg").write_bytes(b"AppleDouble")  # macOS resource fork, not an image


def make_market(root: Path, base: str = "Market-1501-v15.09.15", labels: str | None = None) -> Path:
    """Market-1501 tree under ``root/base`` (+ ``<name>_<labels>_label`` beside it); returns it."""
    market = root / base
    for folder, stems in MARKET_FOLDERS.items():
        for stem in stems:
            write_image(market / folder / f"{stem}.jpg")
            if labels is not None:
                write_label(
                    market.parent / f"{market.name}_{labels}_label" / folder / f"{stem}.png"
                )
        write_clutter(market / folder)
    return market


def make_partial_reid(root: Path, base: str = "Partial-REID_Dataset", ids: int = 3) -> Path:
    """Partial-REID tree: ``ids`` identities x 2 images in each of the three folders."""
    folder = root / base
    for sub in ("partial_body_images", "occluded_body_images", "whole_body_images"):
        for pid in range(1, ids + 1):
            for shot in (1, 2):
                write_image(folder / sub / f"{pid:03d}_{shot:02d}.jpg")
        write_clutter(folder / sub)
    return folder


def make_ilids_2018(root: Path, base: str = "Partial_iLIDS", ids: int = 3) -> Path:
    """Partial-iLIDS 2018 tree: ``<pid>.jpg`` once in Probe and Gallery."""
    folder = root / base
    for sub in ("Probe", "Gallery"):
        for pid in range(1, ids + 1):
            write_image(folder / sub / f"{pid}.jpg")
    return folder


def make_ilids_2019(root: Path, base: str = "PartialILIDS") -> Path:
    """Partial-iLIDS 2019 tree: pid = first 4 characters; probe 2 ids, gallery 3 ids."""
    folder = root / base
    for name in ("0001_c1_001", "0001_c1_002", "0004_c1_001"):
        write_image(folder / "Probe" / f"{name}.jpg")
    for name in ("0001_c2_001", "0004_c2_001", "0009_c2_001"):
        write_image(folder / "Gallery" / f"{name}.jpg")
    return folder


def make_occluded_reid(root: Path, base: str = "Occluded_REID", tif_folders: bool = True) -> Path:
    """Occluded-REID tree: per-identity .tif folders (original) or flat .jpg (repack)."""
    folder = root / base
    for sub in ("occluded_body_images", "whole_body_images"):
        for pid in (1, 2):
            for shot in (1, 2, 3):
                name = f"{pid:03d}_{shot:02d}"
                if tif_folders:
                    write_image(folder / sub / f"{pid:03d}" / f"{name}.tif")
                else:
                    write_image(folder / sub / f"{name}.jpg")
        write_clutter(folder / sub)
    return folder


def rle(mask: np.ndarray) -> dict:
    """A COCO RLE dict with str counts, as in the DensePose JSON files."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": encoded["size"], "counts": encoded["counts"].decode("ascii")}


def quadrant_dp_masks() -> list:
    """14 dp_masks: 1 torso everywhere, 14 head on the top half, 4 left foot bottom-right.

    After overwriting (later parts win) and 14 -> 7: top half 1 (head), bottom-left
    2 (torso), bottom-right 7 (foot).
    """
    masks: list = [[] for _ in range(14)]
    whole = np.ones((256, 256), np.uint8)
    top = np.zeros((256, 256), np.uint8)
    top[:128] = 1
    bottom_right = np.zeros((256, 256), np.uint8)
    bottom_right[128:, 128:] = 1
    masks[0], masks[13], masks[3] = rle(whole), rle(top), rle(bottom_right)
    masks[5] = None  # an absent part may also be null
    return masks


def make_coco(root: Path, annotations: list | None = None, images: list | None = None) -> Path:
    """coco/ with a train2014 and a val2014 image and a DensePose train annotation file."""
    coco = root / "coco"
    write_image(coco / "train2014" / "COCO_train2014_000000000001.jpg", size=(300, 200))
    write_image(coco / "val2014" / "COCO_val2014_000000000002.jpg", size=(100, 200))
    images = images or [
        {"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "width": 300, "height": 200},
        {"id": 2, "file_name": "COCO_val2014_000000000002.jpg", "width": 100, "height": 200},
    ]
    annotations = annotations or [
        {
            "id": 11,
            "image_id": 1,
            "bbox": [10.7, 20.2, 64.0, 128.5],
            "dp_masks": quadrant_dp_masks(),
        },
        {
            "id": 12,
            "image_id": 2,
            "bbox": [68.0, 0.0, 64.0, 128.0],
            "dp_masks": quadrant_dp_masks(),
        },
        {"id": 13, "image_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0]},  # no dp_masks: skipped
    ]
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    path = coco / "annotations" / "densepose_coco_2014_train.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return coco


# Occluded-Duke: the list-based conversion's names; the first query also sits in the gallery
# (same name, pid and camera), as 1,870 of the release's queries do.
DUKE_TRAIN = ("0001_c2_f0046182", "0001_c5_f0051341", "0003_c1_f0044158")
DUKE_QUERY = ("0005_c2_f0046985", "0007_c7_f0109847")
DUKE_GALLERY = ("0005_c2_f0046985", "0005_c5_f0061327", "0007_c1_f0045332", "0009_c8_f0111001")


def make_occluded_duke(root: Path, base: str = "Occluded_Duke", labels: str | None = None) -> Path:
    """Occluded-Duke tree (+ ``<base>_<labels>_label`` beside it); returns it."""
    folder = root / base
    for sub, stems in (
        ("bounding_box_train", DUKE_TRAIN),
        ("query", DUKE_QUERY),
        ("bounding_box_test", DUKE_GALLERY),
    ):
        for stem in stems:
            write_image(folder / sub / f"{stem}.jpg")
            if labels is not None:
                write_label(root / f"{base}_{labels}_label" / sub / f"{stem}.png")
        write_clutter(folder / sub)
    return folder


def make_p_dukemtmc(root: Path, base: str = "P-DukeMTMC-reID", labels: str | None = None) -> Path:
    """P-DukeMTMC-reID tree: per-identity folders; train ids 1-2, test ids 11-12 (3 images each
    in whole_body_images, 2 in occluded_body_images); with ``labels``, a
    ``<base>_<labels>_label`` tree mirroring the training images."""
    folder = root / base
    for split, pids in (("train", (1, 2)), ("test", (11, 12))):
        for kind, shots in (("whole_body_images", 3), ("occluded_body_images", 2)):
            for pid in pids:
                for shot in range(shots):
                    rel = Path(split, kind, f"{pid:04d}", f"{pid:04d}_c{shot + 1}_f{shot:07d}.jpg")
                    write_image(folder / rel)
                    if labels is not None and split == "train":
                        write_label(root / f"{base}_{labels}_label" / rel.with_suffix(".png"))
            write_clutter(folder / split / kind)
    return folder


# MSMT17 list lines: <pid folder>/<name> <label>; the camera is the third field of the name.
MSMT_LISTS = {
    "list_train.txt": (
        "0000/0000_000_01_0303morning_0015_0.jpg 0",
        "0001/0001_003_05_0303noon_0101_1.jpg 1",
    ),
    "list_val.txt": ("0001/0001_004_12_0303afternoon_0200_0.jpg 1",),
    "list_query.txt": (
        "0000/0000_000_03_0113morning_0001_0.jpg 0",
        "0002/0002_010_15_0113noon_0100_0.jpg 2",
    ),
    "list_gallery.txt": (
        "0000/0000_001_07_0113morning_0020_1.jpg 0",
        "0002/0002_011_15_0113noon_0101_0.jpg 2",
        "0002/0002_012_02_0113noon_0300_0.jpg 2",
    ),
}


def make_msmt17(root: Path, version: int = 2, labels: str | None = None) -> Path:
    """MSMT17 tree of ``version`` 1 (train/, test/) or 2 (mask_train_v2/, mask_test_v2/); with
    ``labels``, a ``MSMT17_V<version>_<labels>_label`` tree mirroring every image."""
    folder = root / f"MSMT17_V{version}"
    train, test = ("train", "test") if version == 1 else ("mask_train_v2", "mask_test_v2")
    for list_name, lines in MSMT_LISTS.items():
        images = train if list_name in ("list_train.txt", "list_val.txt") else test
        for line in lines:
            write_image(folder / images / line.split()[0])
            if labels is not None:
                label = Path(images, line.split()[0]).with_suffix(".png")
                write_label(root / f"{folder.name}_{labels}_label" / label)
        (folder / list_name).parent.mkdir(parents=True, exist_ok=True)
        (folder / list_name).write_text("\n".join(lines) + "\n")
    return folder


def make_all(root: Path) -> Path:
    """Every data set in the DESIGN layout under ``root``; returns ``root``."""
    make_market(root, labels="ps")
    make_partial_reid(root)
    make_ilids_2018(root)
    make_ilids_2019(root)
    make_occluded_reid(root)
    make_coco(root)
    return root
