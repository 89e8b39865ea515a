"""Logic of `datasets check`: a data root vs the real releases (export-labels: datasets.export).

``check_root`` returns one JSON-ready dict per data set found under the root::

    {"<dataset>": {"<split>": {"ids": int, "images": int,
                               "expected_ids": int | None, "expected_images": int | None},
                   ...,
                   "problems": [str, ...],          # one line each, saying what to do
                   "labels": {...}}}                # market1501 only, when a label tree exists

Data sets are the registered ones (``--plugin`` ones too), by role; split keys follow the role
(train or parsing: ``train``; test: ``query`` and ``gallery``). Conventions:

- ids count distinct pids, but not Market-1501's 0 (a distractor, not an identity); images
  count every image after junk (pid -1) is dropped, distractors included.
- partial_reid: ``query`` is the default ``partial_body_images``; when ``occluded_body_images``
  exists too it is reported as the extra split key ``query_occluded_body_images``.
- coco_densepose: only ``train`` (the train annotation file); images = person instances with
  ``dp_masks``, ids = distinct COCO images holding them; no expected counts. Every RLE mask is
  decoded; the first that does not is named by annotation id and image.

``failures`` turns a report into the reasons ``datasets check`` fails: a needed data set that
is missing, or one with problems other than counts that differ from the full release.
- market1501 ``labels``: ``{"ps"|"gt": {"<split>": {"images", "labeled", "missing",
  "wrong_size"}}}`` for each of ``Market-1501-v15.09.15_{ps,gt}_label`` that exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from tabulate import tabulate
from tqdm import tqdm

from benchmark.errors import DataError, folder_problem
from reid_datasets import coco_densepose, market1501, partial_reid
from reid_datasets.base import (
    ROLES,
    SPLITS,
    Splits,
    dataset_info,
    dataset_rank,
    datasets_with_role,
    list_datasets,
)
from reid_datasets.check_labels import READ_ERRORS, check_labels, load_leniently
from reid_datasets.layout import find_dir

logger = logging.getLogger(__name__)

NON_SPLIT_KEYS = ("problems", "labels")
EXTRA_QUERY_KEY = "query_occluded_body_images"


# The splits ``datasets check`` reports for each role.
ROLE_SPLITS = {"train": ("train",), "test": ("query", "gallery"), "parsing": ("train",)}


def checked_datasets() -> list[str]:
    """Every registered data set: the ReID ones (train, test) in table order, then parsing ones."""
    reid = sorted(
        (n for n in list_datasets() if set(dataset_info(n).roles) & {"train", "test"}),
        key=dataset_rank,
    )
    return list(dict.fromkeys(reid + [n for role in ROLES for n in datasets_with_role(role)]))


def _report_splits(name: str) -> tuple[str, ...]:
    """The splits reported for ``name``: those of its roles, in train/query/gallery order."""
    wanted = {split for role in dataset_info(name).roles for split in ROLE_SPLITS[role]}
    return tuple(split for split in SPLITS if split in wanted)


def _present(name: str, root: Path) -> bool:
    """Whether ``name`` lies under ``root``: its layout's folder, else any sample it loads."""
    layout = dataset_info(name).layout
    if layout is not None:
        return layout.find(root) is not None
    splits = load_leniently(name, root)
    return any(getattr(splits, split) for split in SPLITS)


def _count(
    items: Sequence[Any], expected: tuple[int, int] | None, market_ids: bool = True
) -> dict[str, int | None]:
    """The split entry: found and expected identity/image counts."""
    if items and isinstance(items[0], coco_densepose.CocoInstance):
        ids = len({item.image_path for item in items})
    else:
        # pid 0: a Market-1501 distractor, not an identity; elsewhere (MSMT17) an identity
        ids = len({item.pid for item in items if item.pid != 0 or not market_ids})
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
        except READ_ERRORS as e:
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
        market_ids = dataset_info(name).market_ids
        result[key] = _count(items, getattr(expected, field_name), market_ids)
        problems += _count_problem(name, key, result[key])
        if verify_images:
            problems += _unreadable(name, key, _image_paths(items))
    return result, problems


def _undecodable_masks(instances: Sequence[Any]) -> list[str]:
    """Decode the 14 RLE masks of every DensePose person; one line naming the first bad one."""
    bad = []
    for instance in tqdm(instances, desc="dp_masks", disable=None, leave=False):
        try:
            coco_densepose.decode_dp_masks(instance.dp_masks)
        except DataError as e:
            bad.append(f"{instance.where()}: {e}")
    if not bad:
        return []
    return [
        f"{coco_densepose.NAME}: {len(bad)} annotation(s) have dp_masks that do not decode "
        f"(first: {bad[0]}); fix or remove them"
    ]


def _check_dataset(name: str, root: Path, verify_images: bool) -> dict[str, Any]:
    """The report entry of one data set found under ``root``."""
    expected = dataset_info(name).expected
    splits = load_leniently(name, root)
    result, problems = _check_splits(
        name, {s: s for s in _report_splits(name)}, splits, expected, verify_images
    )
    problems = list(splits.problems) + problems
    if name == partial_reid.NAME:
        base = partial_reid.LAYOUT.find(root)
        if base is not None and find_dir(base, "occluded_body_images") is not None:
            extra = load_leniently(name, root, query_folder="occluded_body_images")
            more, extra_problems = _check_splits(
                name, {EXTRA_QUERY_KEY: "query"}, extra, expected, verify_images
            )
            result.update(more)
            problems += list(extra.problems) + extra_problems
    if name == coco_densepose.NAME:
        problems += _undecodable_masks(splits.train)
    if name == market1501.NAME:
        labels, label_problems = check_labels(root, verify_images, splits.problems)
        if labels:
            result["labels"] = labels
        problems += label_problems
    result["problems"] = list(dict.fromkeys(problems))  # drop repeats, keep order
    return result


def check_root(root: Path, verify_images: bool = True) -> dict[str, Any]:
    """Report every registered data set found under ``root`` against its release's counts.

    Args:
        root: the data root.
        verify_images: also decode every image (PIL open + load) and check label values.

    Returns:
        ``{dataset: {split: counts, ..., "problems": [...]}}`` (see the module docstring);
        empty when no data set is found.
    """
    root = Path(root)
    if problem := folder_problem(root):
        raise DataError(f"data root {root} {problem}; pass --root DIR naming an existing folder")
    return {
        name: _check_dataset(name, root, verify_images)
        for name in checked_datasets()
        if _present(name, root)
    }


def _failing(name: str, entry: dict[str, Any]) -> list[str]:
    """The problems of one report entry that make the data set unusable.

    A count that differs from the full release is reported but does not fail: a subset or
    the synthetic copy is fine.
    """
    splits = {key: value for key, value in entry.items() if key not in NON_SPLIT_KEYS}
    counts = {line for key, value in splits.items() for line in _count_problem(name, key, value)}
    return [line for line in entry["problems"] if line not in counts]


def failures(report: dict[str, Any], root: Path, need: Sequence[str] | None = None) -> list[str]:
    """Why ``datasets check`` fails: one line per needed data set that is missing or broken.

    Args:
        report: ``check_root``'s report.
        root: the data root it checked (named in the lines).
        need: the data sets the chosen command needs; None: every data set found.

    Returns:
        The lines (empty when the check passes).
    """
    if need is None and not report:  # a wrong --root: no command can use it
        below = nested_roots(root)
        if below:  # everything one folder down: say where
            return [
                f"no data set directly under {root}, but {len(below)} folder(s) below hold "
                f"releases: {', '.join(map(str, below))}; pass --root {below[0]}"
            ]
        return [f"no data set found under {root}; pass the folder holding the unpacked releases"]
    lines = []
    for name in report if need is None else need:
        if name not in report:
            layout = dataset_info(name).layout
            where = f" (looked for {', '.join(layout.candidates)})" if layout else ""
            lines.append(f"{name} is missing under {root}{where}")
            continue
        broken = _failing(name, report[name])
        if broken:
            lines.append(f"{name} has {len(broken)} problem(s), first: {broken[0]}")
    return lines


def nested_roots(root: Path) -> list[Path]:
    """Folders one level below ``root`` that hold a registered release (a --root one too high)."""
    found = [dataset_info(n).layout for n in checked_datasets()]
    layouts = [layout for layout in found if layout is not None]
    children = sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    return [c for c in children if any(layout.find(c) is not None for layout in layouts)]


def missing_lines(report: dict[str, Any]) -> list[str]:
    """One line per registered data set not found, with the folders looked for."""
    lines = []
    for name in checked_datasets():
        if name in report:
            continue
        info = dataset_info(name)
        looked = f" (looked for {', '.join(info.layout.candidates)})" if info.layout else ""
        lines.append(f"missing: {name} ({info.display}, {'/'.join(info.roles)}){looked}")
    return lines


def _cell(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def format_report(report: dict[str, Any], root: Path | None = None) -> str:
    """A human-readable table of ``check_root``'s report: data sets x splits, problems, then
    each registered data set not found (and, when none is, the folders below that hold some)."""
    if not report:
        layouts = [dataset_info(name).layout for name in checked_datasets()]
        folders = ", ".join(layout.candidates[0] for layout in layouts if layout is not None)
        text = f"No data set found under the root (looked for: {folders})."
        below = nested_roots(root) if root is not None else []
        if below:
            where = ", ".join(str(p) for p in below)
            text += f"\nFound releases one folder down, in {where}: pass --root {below[0]}"
        return text
    rows, notes = [], []
    for name, entry in report.items():
        for split, counts in entry.items():
            if split in NON_SPLIT_KEYS:
                continue
            found = (counts["ids"], counts["images"])
            wanted = (counts["expected_ids"], counts["expected_images"])
            status = "-" if wanted[1] is None else ("ok" if found == wanted else "differs")
            cells = (_cell(v) for v in (*found, *wanted))
            rows.append([dataset_info(name).display, name, split, *cells, status])
        for kind, per_split in entry.get("labels", {}).items():
            cover = ", ".join(f"{s} {c['labeled']:,}/{c['images']:,}" for s, c in per_split.items())
            notes.append(f"{name} {kind} labels: {cover}")
        notes += [f"problem: {line}" for line in entry["problems"]]
    headers = ["data set", "name", "split", "ids", "images", "expected ids", "expected images"]
    headers.append("status")
    table = tabulate(rows, headers=headers, tablefmt="github")
    notes = notes or ["No problems found."]
    return "\n".join([table, *notes, *missing_lines(report)])
