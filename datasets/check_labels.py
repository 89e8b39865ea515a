"""Lenient loading and the Market-1501 part-label checks of `datasets check`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmark.errors import DataError
from reid_datasets import market1501
from reid_datasets.base import Splits, load_dataset
from reid_datasets.label_trees import LABEL_SUFFIXES

READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def load_leniently(name: str, root: Path, **options: Any) -> Splits:
    """Load leniently: problems are collected, a fatal one becomes the only problem."""
    try:
        return load_dataset(name, root, strict=False, **options)
    except DataError as e:
        return Splits(name=name, problems=(str(e),))


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, None when unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except READ_ERRORS:
        return None


def _is_part_map(path: Path) -> bool:
    """Whether a label PNG decodes to a single-channel map of values 0-7."""
    try:
        with Image.open(path) as label:
            return label.mode in ("L", "P") and int(np.asarray(label).max()) <= 7
    except READ_ERRORS:
        return False


def _label_problems(samples: Sequence[Any], verify_images: bool) -> tuple[int, list[Path]]:
    """Count labels whose size differs from their (readable) image; list bad 0-7 maps.

    Sizes come from headers (always checked); values are decoded only when ``verify_images``.
    """
    wrong_size, bad_values = 0, []
    for sample in samples:
        if sample.label_path is None:
            continue
        label_size = header_size(sample.label_path)
        image_size = header_size(sample.path)  # an unreadable image is reported on its own
        if label_size is None or (verify_images and not _is_part_map(sample.label_path)):
            bad_values.append(sample.label_path)
        elif image_size is not None and image_size != label_size:
            wrong_size += 1
    return wrong_size, bad_values


def check_labels(
    root: Path, verify_images: bool, known: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """Coverage of each Market-1501 part-label tree beside the image tree; ``known`` problems
    (those of the unlabeled load) are not repeated."""
    market_dir = market1501.LAYOUT.find(root)
    coverage: dict[str, Any] = {}
    problems: list[str] = []
    for kind in LABEL_SUFFIXES:
        if market_dir is None or market1501.find_label_dir(market_dir, kind) is None:
            continue
        splits = load_leniently(market1501.NAME, root, labels=kind)
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
