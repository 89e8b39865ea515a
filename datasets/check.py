"""Logic of `datasets check` (a data root vs the real releases) and `export-labels`.

``check_root`` returns one JSON-ready dict per data set found under the root::

    {"<dataset>": {"<split>": {"ids": int, "images": int,
                               "expected_ids": int | None, "expected_images": int | None},
                   ...,
                   "problems": [str, ...],          # one line each, saying what to do
                   "labels": {...}}}                # market1501 only, when a label tree exists

Split keys are train/query/gallery as the data set has them. Conventions:

- ids count distinct pids other than 0 (a Market-1501 distractor is not an identity); images
  count every image after junk (pid -1) is dropped, distractors included.
- partial_reid: ``query`` is the default ``partial_body_images``; when ``occluded_body_images``
  exists too it is reported as the extra split key ``query_occluded_body_images``.
- coco_densepose: only ``train`` (the train annotation file); images = person instances with
  ``dp_masks``, ids = distinct COCO images holding them; no expected counts.
- market1501 ``labels``: ``{"ps"|"gt": {"<split>": {"images", "labeled", "missing",
  "wrong_size"}}}`` for each of ``Market-1501-v15.09.15_{ps,gt}_label`` that exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tabulate import tabulate
from tqdm import tqdm

from benchmark.atomic import atomic_path
from benchmark.errors import ConfigError, DataError
from datasets import coco_densepose, market1501, occluded_reid, partial_ilids, partial_reid
from datasets.base import DATASETS, Splits, load_dataset
from datasets.layout import DatasetLayout, find_dir

logger = logging.getLogger(__name__)

NON_SPLIT_KEYS = ("problems", "labels")
EXTRA_QUERY_KEY = "query_occluded_body_images"
_READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class CheckedDataset:
    """A built-in data set that ``check_root`` looks for: where, and which splits to report."""

    name: str
    layout: DatasetLayout
    splits: tuple[str, ...]


CHECKED = (
    CheckedDataset(market1501.NAME, market1501.LAYOUT, ("train", "query", "gallery")),
    CheckedDataset(partial_reid.NAME, partial_reid.LAYOUT, ("query", "gallery")),
    CheckedDataset(partial_ilids.NAME_2018, partial_ilids.LAYOUT_2018, ("query", "gallery")),
    CheckedDataset(partial_ilids.NAME_2019, partial_ilids.LAYOUT_2019, ("query", "gallery")),
    CheckedDataset(occluded_reid.NAME, occluded_reid.LAYOUT, ("query", "gallery")),
    CheckedDataset(coco_densepose.NAME, coco_densepose.LAYOUT, ("train",)),
)


def _load(name: str, root: Path, **options: Any) -> Splits:
    """Load leniently: problems are collected, a fatal one becomes the only problem."""
    try:
        return load_dataset(name, root, strict=False, **options)
    except DataError as e:
        return Splits(name=name, problems=(str(e),))


def _count(items: Sequence[Any], expected: tuple[int, int] | None) -> dict[str, int | None]:
    """The split entry: found and expected identity/image counts."""
    if items and isinstance(items[0], coco_densepose.CocoInstance):
        ids = len({item.image_path for item in items})
    else:
        ids = len({item.pid for item in items if item.pid != 0})
    return {
        "ids": ids,
        "images": len(items),
        "expected_ids": expected[0] if expected else None,
        "expected_images": expected[1] if expected else None,
    }


def _count_problem(name: str, split: str, entry: dict[str, int | None]) -> list[str]:
    """A line when the counts differ from the real release's."""
    if entry["expected_images"] is None:
        return []
    if (entry["ids"], entry["images"]) == (entry["expected_ids"], entry["expected_images"]):
        return []
    return [
        f"{name} {split}: found {entry['ids']} ids / {entry['images']} images, the release has "
        f"{entry['expected_ids']} / {entry['expected_images']}; fine for a subset or synthetic "
        "copy, otherwise re-extract the release"
    ]


def _unreadable(name: str, split: str, paths: Iterable[Path]) -> list[str]:
    """Open and decode each image; one line naming how many fail and the first one."""
    bad: list[str] = []
    for path in tqdm(sorted(set(paths)), desc=f"{name} {split}", disable=None, leave=False):
        try:
            with Image.open(path) as image:
                image.load()
        except _READ_ERRORS as e:
            bad.append(f"{path} ({type(e).__name__})")
    if not bad:
        return []
    return [
        f"{name} {split}: {len(bad)} image(s) cannot be decoded (first: {bad[0]}); "
        "re-extract them from the release"
    ]


def _image_paths(items: Sequence[Any]) -> list[Path]:
    """The image files behind Samples or CocoInstances."""
    return [
        item.image_path if isinstance(item, coco_densepose.CocoInstance) else item.path
        for item in items
    ]


def _check_splits(
    name: str, keys: dict[str, str], splits: Splits, expected: Any, verify_images: bool
) -> tuple[dict[str, Any], list[str]]:
    """Entries and problems for report keys mapped to Splits fields (e.g. extra -> query)."""
    result: dict[str, Any] = {}
    problems: list[str] = []
    for key, field_name in keys.items():
        items = getattr(splits, field_name)
        result[key] = _count(items, getattr(expected, field_name))
        problems += _count_problem(name, key, result[key])
        if verify_images:
            problems += _unreadable(name, key, _image_paths(items))
    return result, problems


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, None when unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except _READ_ERRORS:
        return None


def _is_part_map(path: Path) -> bool:
    """Whether a label PNG decodes to a single-channel map of values 0-7."""
    try:
        with Image.open(path) as label:
            return label.mode in ("L", "P") and int(np.asarray(label).max()) <= 7
    except _READ_ERRORS:
        return False


def _label_problems(samples: Sequence[Any], verify_images: bool) -> tuple[int, list[Path]]:
    """Count labels whose size differs from their (readable) image; list bad 0-7 maps.

    Sizes come from headers (always checked); values are decoded only when ``verify_images``.
    """
    wrong_size, bad_values = 0, []
    for sample in samples:
        if sample.label_path is None:
            continue
        label_size = _header_size(sample.label_path)
        image_size = _header_size(sample.path)  # an unreadable image is reported on its own
        if label_size is None or (verify_images and not _is_part_map(sample.label_path)):
            bad_values.append(sample.label_path)
        elif image_size is not None and image_size != label_size:
            wrong_size += 1
    return wrong_size, bad_values


def _check_labels(
    root: Path, verify_images: bool, known: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """Coverage of each Market-1501 part-label tree beside the image tree; ``known`` problems
    (those of the unlabeled load) are not repeated."""
    market_dir = market1501.LAYOUT.find(root)
    coverage: dict[str, Any] = {}
    problems: list[str] = []
    for kind in market1501.LABEL_SUFFIXES:
        if market_dir is None or market1501.find_label_dir(market_dir, kind) is None:
            continue
        splits = _load(market1501.NAME, root, labels=kind)
        problems += [line for line in splits.problems if line not in known]
        coverage[kind] = {}
        for split in ("train", "query", "gallery"):
            samples = getattr(splits, split)
            labeled = sum(s.label_path is not None for s in samples)
            wrong_size, bad = _label_problems(samples, verify_images)
            coverage[kind][split] = {
                "images": len(samples),
                "labeled": labeled,
                "missing": len(samples) - labeled,
                "wrong_size": wrong_size,
            }
            if wrong_size:
                problems.append(
                    f"{market1501.NAME} {kind} labels {split}: {wrong_size} PNG(s) differ in size "
                    "from their image; regenerate them at the image size"
                )
            if bad:
                problems.append(
                    f"{market1501.NAME} {kind} labels {split}: {len(bad)} PNG(s) are unreadable "
                    f"or not single-channel 0-7 maps (first: {bad[0]}); regenerate them"
                )
    return coverage, problems


def _check_dataset(entry: CheckedDataset, root: Path, verify_images: bool) -> dict[str, Any]:
    """The report entry of one data set found under ``root``."""
    expected = DATASETS.meta(entry.name)["expected"]
    splits = _load(entry.name, root)
    result, problems = _check_splits(
        entry.name, {s: s for s in entry.splits}, splits, expected, verify_images
    )
    problems = list(splits.problems) + problems
    if entry.name == partial_reid.NAME:
        base = entry.layout.find(root)
        if base is not None and find_dir(base, "occluded_body_images") is not None:
            extra = _load(entry.name, root, query_folder="occluded_body_images")
            more, extra_problems = _check_splits(
                entry.name, {EXTRA_QUERY_KEY: "query"}, extra, expected, verify_images
            )
            result.update(more)
            problems += list(extra.problems) + extra_problems
    if entry.name == market1501.NAME:
        labels, label_problems = _check_labels(root, verify_images, splits.problems)
        if labels:
            result["labels"] = labels
        problems += label_problems
    result["problems"] = list(dict.fromkeys(problems))  # drop repeats, keep order
    return result


def check_root(root: Path, verify_images: bool = True) -> dict[str, Any]:
    """Report every built-in data set found under ``root`` against the real releases' counts.

    Args:
        root: the data root.
        verify_images: also decode every image (PIL open + load) and check label values.

    Returns:
        ``{dataset: {split: counts, ..., "problems": [...]}}`` (see the module docstring);
        empty when no data set is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"data root {root} does not exist; pass --root DIR naming an existing folder"
        )
    return {
        entry.name: _check_dataset(entry, root, verify_images)
        for entry in CHECKED
        if entry.layout.find(root) is not None
    }


def _cell(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def format_report(report: dict[str, Any]) -> str:
    """A human-readable table of ``check_root``'s report: data sets x splits, then problems."""
    if not report:
        folders = ", ".join(entry.layout.candidates[0] for entry in CHECKED)
        return f"No data set found under the root (looked for: {folders})."
    rows, notes = [], []
    for name, entry in report.items():
        for split, counts in entry.items():
            if split in NON_SPLIT_KEYS:
                continue
            found = (counts["ids"], counts["images"])
            wanted = (counts["expected_ids"], counts["expected_images"])
            status = "-" if wanted[1] is None else ("ok" if found == wanted else "differs")
            rows.append([name, split, *(_cell(v) for v in (*found, *wanted)), status])
        for kind, per_split in entry.get("labels", {}).items():
            cover = ", ".join(f"{s} {c['labeled']:,}/{c['images']:,}" for s, c in per_split.items())
            notes.append(f"{name} {kind} labels: {cover}")
        notes += [f"problem: {line}" for line in entry["problems"]]
    headers = ["dataset", "split", "ids", "images", "expected ids", "expected images", "status"]
    table = tabulate(rows, headers=headers, tablefmt="github")
    return "\n".join([table, *notes]) if notes else table + "\nNo problems found."


def _write_png(path: Path, label: np.ndarray) -> None:
    """Write a single-channel PNG atomically (``benchmark.atomic.atomic_path``)."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8)).save(tmp, format="PNG")


def export_labels(
    root: Path, out: Path, dataset: str = "coco_densepose", splits: Sequence[str] = ("train",)
) -> int:
    """Write ``OUT/<annotation id>.png``: each DensePose person's 7-part map at its box size.

    Args:
        root: the data root holding ``coco/``.
        out: output folder (created).
        dataset: only "coco_densepose" has part annotations to export.
        splits: the annotation files to read ("train", "val", "minival").

    Returns:
        The number of label PNGs written.
    """
    if dataset != coco_densepose.NAME:
        raise ConfigError(
            f"export-labels reads part annotations of coco_densepose only, not {dataset!r}"
        )
    instances = load_dataset(dataset, Path(root), splits=tuple(splits)).train
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sizes: dict[Path, tuple[int, int]] = {}
    for instance in tqdm(instances, desc="export-labels", unit="person", disable=None):
        if instance.image_path not in sizes:
            size = _header_size(instance.image_path)
            if size is None:
                raise DataError(f"cannot read image {instance.image_path}; re-extract it")
            sizes[instance.image_path] = size
        label = coco_densepose.instance_part_map(instance, sizes[instance.image_path])
        _write_png(out / f"{instance.ann_id}.png", label)
    logger.info("wrote %d part-label PNGs to %s", len(instances), out)
    return len(instances)
