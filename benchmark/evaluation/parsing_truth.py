"""The ground truth of parsing quality: the synthetic part labels beside each test image.

Only the synthetic generator writes them (``<release>_gt_label/``); real data has none. A test
set whose queries have no ground truth at all is left out of parsing scoring with a note, never
scored against a made-up truth; a set with only some of its labels is damaged data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmark.errors import DataError
from benchmark.loading.labels import read_label_map
from reid_datasets.base import Sample
from reid_datasets.parts import part7_to_4
from reid_datasets.synthetic.writers import label_relpath

log = logging.getLogger(__name__)


def truth_path(root: Path, image: Path) -> Path:
    """The synthetic ground-truth label PNG of ``image`` (``<release>_gt_label/...``)."""

    try:
        rel = Path(image).relative_to(root)
    except ValueError as e:
        raise DataError(f"{image} is not under the data root {root}") from e
    return Path(root) / label_relpath(rel.as_posix())


def with_truth(root: Path, samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` with ``label_path`` set to their ground-truth labels; DataError if missing."""
    found = [replace(s, label_path=truth_path(root, s.path)) for s in samples]
    missing = [s.label_path for s in found if not s.label_path.is_file()]  # type: ignore[union-attr]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(found)} ground-truth labels are missing (first: "
            f"{missing[0]}); regenerate the synthetic data (delete its folder)"
        )
    return found


def full_label(path: Path) -> np.ndarray:
    """A 7-part label PNG at its own resolution, fused to HPNet's 4 parts; [H, W] uint8."""
    return part7_to_4(read_label_map(path))


def _truth_count(root: Path, samples: Sequence[Sample]) -> int:
    """How many of ``samples`` have a ground-truth label (an image outside ``root``: none)."""
    try:
        return sum(truth_path(root, s.path).is_file() for s in samples)
    except DataError:
        return 0


def sets_with_truth(
    root: Path, queries: Mapping[str, Sequence[Sample]], synthetic: bool
) -> tuple[str, ...]:
    """The test sets whose queries can be scored for parsing quality, checked before training.

    Args:
        root: the data root.
        queries: test set name -> its query samples.
        synthetic: whether ``root`` holds the synthetic data (real data has no ground truth).

    Returns:
        The names of the sets whose every query has a ground-truth label; each other set is
        skipped with a logged note.

    Raises:
        DataError: a set with only some of its labels (damaged synthetic data), in one line.
    """
    if not synthetic:
        if queries:
            log.info(
                "parsing quality not scored: real data has no ground-truth part labels (%s)",
                ", ".join(queries),
            )
        return ()
    kept = []
    for name, samples in queries.items():
        found = _truth_count(root, samples)
        if found == len(samples) and found:
            kept.append(name)
        elif found == 0:
            log.info("parsing quality not scored on %s: it has no ground-truth part labels", name)
        else:
            raise DataError(
                f"{name}: only {found} of {len(samples)} queries have a ground-truth part label "
                f"under {root}; regenerate the synthetic data (delete its folder)"
            )
    return tuple(kept)
