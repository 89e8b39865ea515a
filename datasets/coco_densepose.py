"""DensePose-COCO loader: person instances with 14-part ``dp_masks``, decoded to 7-part maps."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from benchmark.errors import ConfigError, DataError
from reid_datasets.base import CocoInstance, ExpectedCounts, Splits, register_dataset
from reid_datasets.layout import UNPACK_HINT, DatasetLayout, ProblemLog, find_dir, require_dir
from reid_datasets.parts import densepose14_to_7

NAME = "coco_densepose"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=("coco", "coco_densepose/coco", "coco_densepose", "COCO2014"),
    markers=("annotations",),
)
# split option -> annotation file of the DensePose release.
SPLIT_FILES = {
    "train": "densepose_coco_2014_train.json",
    "val": "densepose_coco_2014_valminusminival.json",
    "minival": "densepose_coco_2014_minival.json",
}
IMAGE_FOLDERS = ("train2014", "val2014")
NUM_DP_PARTS = 14
DP_SIZE = 256  # dp_masks are 256x256 inside the person box


@dataclass(frozen=True)
class PixelBox:
    """A box in integer pixel edges, right/bottom exclusive (PIL crop order)."""

    left: int
    top: int
    right: int
    bottom: int


def box_edges(bbox: Sequence[float]) -> PixelBox:
    """COCO (x, y, w, h) floats -> integer edges, each edge rounded down (floor).

    Flooring all four edges x, y, x + w, y + h is what the official DensePose notebook does
    (``int()`` on non-negative values); the box is at least 1 pixel wide and high.
    """
    x, y, w, h = (float(v) for v in bbox)
    left, top = math.floor(x), math.floor(y)
    right = max(math.floor(x + w), left + 1)
    bottom = max(math.floor(y + h), top + 1)
    return PixelBox(left, top, right, bottom)


def clip_box(box: PixelBox, image_size: tuple[int, int]) -> PixelBox:
    """Clip ``box`` to an image of ``(width, height)``, keeping at least 1 pixel."""
    width, height = image_size
    left = min(max(box.left, 0), width - 1)
    top = min(max(box.top, 0), height - 1)
    right = max(min(box.right, width), left + 1)
    bottom = max(min(box.bottom, height), top + 1)
    return PixelBox(left, top, right, bottom)


def rle_counts(counts: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``).

    Each number is 6-bit characters from "0" (LEB128-like, 5 bits per character, 0x20 = more,
    0x10 in the last = negative); from the third number on, each is stored as a difference
    from the number two places before it.
    """
    runs: list[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(counts):
                raise DataError("its RLE string ends inside a number")
            char = ord(counts[pos]) - 48
            if not 0 <= char < 64:
                raise DataError(f"its RLE string holds {counts[pos]!r}, not an RLE character")
            value |= (char & 0x1F) << shift
            more, pos, shift = bool(char & 0x20), pos + 1, shift + 5
            if not more and char & 0x10:
                value |= -1 << shift
        runs.append(value + (runs[-2] if len(runs) > 2 else 0))
    return runs


def _check_rle(rle: Any) -> None:
    """Refuse an RLE whose size is not 256x256 or whose runs do not tile it exactly.

    pycocotools decodes such a string without complaint into garbage (it does not bound the
    runs), so the runs are checked before it sees them.
    """
    if not isinstance(rle, dict) or list(rle.get("size", ())) != [DP_SIZE, DP_SIZE]:
        raise DataError("it is not an RLE of size [256, 256]")
    counts = rle.get("counts")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if not isinstance(counts, str):
        raise DataError("its 'counts' is not a compressed RLE string")
    runs = rle_counts(counts)
    if any(run < 0 for run in runs) or sum(runs) != DP_SIZE * DP_SIZE:
        raise DataError(f"its runs cover {sum(runs)} pixels, not {DP_SIZE * DP_SIZE}")


def decode_dp_masks(dp_masks: Sequence[Any]) -> np.ndarray:
    """Decode the 14 DensePose RLE masks into one [256, 256] uint8 map of part numbers 1-14.

    Later parts overwrite earlier ones; an empty entry means the part is absent (0 background).
    """
    if len(dp_masks) != NUM_DP_PARTS:
        raise DataError(f"dp_masks has {len(dp_masks)} entries, expected {NUM_DP_PARTS}")
    label = np.zeros((DP_SIZE, DP_SIZE), dtype=np.uint8)  # [256, 256]
    for part, rle in enumerate(dp_masks, start=1):
        if not rle:
            continue
        try:
            _check_rle(rle)
            with warnings.catch_warnings():  # pycocotools' own numpy-2 copy= deprecation notice
                warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                mask = mask_utils.decode(rle)
        except (DataError, TypeError, ValueError, KeyError) as e:
            raise DataError(f"dp_masks part {part} is not a valid RLE mask ({e})") from e
        if mask.shape[:2] != (DP_SIZE, DP_SIZE):
            raise DataError(f"dp_masks part {part} is {mask.shape[:2]}, expected 256x256")
        label[mask > 0] = part
    return label


def instance_part_map(
    instance: CocoInstance, image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The instance's 7-part code map [h, w] uint8 at its box size, clipped to the image.

    The 256x256 map is resized (nearest) to the whole floored box, then the part inside
    the image is kept, so a box that leaves the image is cropped, not squashed.

    Args:
        instance: the person instance.
        image_size: (width, height) of its image; read from the file header when None.
    """
    if image_size is None:
        with Image.open(instance.image_path) as image:
            image_size = image.size
    box = box_edges(instance.bbox)
    clipped = clip_box(box, image_size)
    try:
        label14 = Image.fromarray(decode_dp_masks(instance.dp_masks))
    except DataError as e:
        raise DataError(f"{instance.where()}: {e}; fix or remove that annotation") from e
    resized = label14.resize((box.right - box.left, box.bottom - box.top), Image.Resampling.NEAREST)
    window = (
        clipped.left - box.left,
        clipped.top - box.top,
        clipped.right - box.left,
        clipped.bottom - box.top,
    )
    return densepose14_to_7(np.asarray(resized.crop(window)))  # [h, w]


def crop_instance(instance: CocoInstance) -> tuple[Image.Image, np.ndarray]:
    """The RGB crop of the instance's box and its 7-part map of the same size."""
    with Image.open(instance.image_path) as image:
        rgb = image.convert("RGB")
    clipped = clip_box(box_edges(instance.bbox), rgb.size)
    crop = rgb.crop((clipped.left, clipped.top, clipped.right, clipped.bottom))
    return crop, instance_part_map(instance, rgb.size)


def _read_json(path: Path) -> dict[str, Any]:
    """The annotation file as a dict with ``images`` and ``annotations``; DataError otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{NAME}: cannot read {path} as JSON ({e}); download it again") from e
    if not isinstance(data, dict) or not {"images", "annotations"} <= data.keys():
        raise DataError(f"{NAME}: {path} lacks 'images' or 'annotations'; is it a COCO file?")
    return data


def _image_path(coco_dir: Path, file_name: str) -> Path | None:
    """Resolve ``file_name`` under train2014/ or val2014/ (the folder its name says first)."""
    order = sorted(IMAGE_FOLDERS, key=lambda folder: folder not in file_name)
    for folder_name in order:
        folder = find_dir(coco_dir, folder_name)
        if folder is not None and (folder / file_name).is_file():
            return folder / file_name
    return None


def _to_instance(ann: dict, files: dict, resolve, where: str, log: ProblemLog, path: Path):
    """One annotation with dp_masks -> CocoInstance, or None after reporting what is wrong."""
    masks = ann["dp_masks"]
    if not isinstance(masks, list) or len(masks) != NUM_DP_PARTS:
        count = len(masks) if isinstance(masks, list) else "no list of"
        log.report(f"{where} has {count} dp_masks, expected {NUM_DP_PARTS}; fix the file")
        return None
    try:
        ann_id, bbox = int(ann["id"]), tuple(float(v) for v in ann["bbox"])
    except (KeyError, TypeError, ValueError):
        bbox = ()
    if len(bbox) != 4:
        log.report(f"{where} has no valid 'id' and 4-number 'bbox'; fix the file")
        return None
    if ann.get("image_id") not in files:
        log.report(f"{where} names unknown image_id {ann.get('image_id')}; fix the file")
        return None
    image_path = resolve(files[ann["image_id"]])
    if image_path is None:
        log.report(f"{where}: image {files[ann['image_id']]} not found in train2014/ or val2014/")
        return None
    return CocoInstance(image_path, ann_id, bbox, tuple(masks), path)


def _split_instances(coco_dir: Path, path: Path, log: ProblemLog) -> tuple[list, int]:
    """CocoInstances of one annotation file and the number of annotations without dp_masks."""
    data = _read_json(path)
    try:
        files = {image["id"]: image["file_name"] for image in data["images"]}
    except (KeyError, TypeError) as e:
        raise DataError(f"{NAME}: an image entry in {path} lacks 'id'/'file_name'") from e
    resolved: dict[str, Path | None] = {}

    def resolve(file_name: str) -> Path | None:
        if file_name not in resolved:
            resolved[file_name] = _image_path(coco_dir, file_name)
        return resolved[file_name]

    instances: list[CocoInstance] = []
    skipped = 0
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            log.report(f"{NAME}: an annotation in {path.name} is not an object; fix the file")
            continue
        if not ann.get("dp_masks"):
            skipped += 1
            continue
        where = f"{NAME}: annotation {ann.get('id')} in {path.name}"
        instance = _to_instance(ann, files, resolve, where, log, path)
        if instance is not None:
            instances.append(instance)
    return instances, skipped


@register_dataset(
    NAME,
    expected=ExpectedCounts(),
    display="DensePose-COCO",
    roles=("parsing",),
    order=5,
    layout=LAYOUT,
)
def load_coco_densepose(
    root: Path, splits: Sequence[str] = ("train",), strict: bool = True
) -> Splits:
    """Parse DensePose-COCO person instances (those with ``dp_masks``) into ``Splits.train``.

    Args:
        root: the data root holding ``coco/annotations`` and ``coco/{train2014,val2014}``.
        splits: annotation files to read: "train", "val" (valminusminival), "minival".
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.

    Returns:
        Splits whose train holds CocoInstances sorted by annotation id; info counts the
        annotations skipped for having no dp_masks.
    """
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = [s for s in splits if s not in SPLIT_FILES]
    if unknown:
        raise ConfigError(f"{NAME}: unknown split {unknown[0]!r}; choose from: train, val, minival")
    log = ProblemLog(strict)
    coco_dir = LAYOUT.locate(root)
    instances: list[CocoInstance] = []
    skipped = 0
    annotations = require_dir(NAME, coco_dir, "annotations", log)
    for split in splits if annotations is not None else ():
        assert annotations is not None, "the loop runs only when the annotations folder exists"
        path = annotations / SPLIT_FILES[split]
        if not path.is_file():
            log.report(f"{NAME}: {path} not found; {UNPACK_HINT}")
            continue
        try:
            found, n_skipped = _split_instances(coco_dir, path, log)
        except DataError as e:
            log.report(str(e))
            continue
        instances.extend(found)
        skipped += n_skipped
    instances.sort(key=lambda inst: inst.ann_id)
    info = {"skipped_without_dp_masks": str(skipped), "splits": ",".join(splits)}
    return Splits(name=NAME, train=tuple(instances), info=info, problems=tuple(log.lines))
