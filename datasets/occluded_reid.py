"""Occluded-REID loader: per-identity .tif folders (original release) or flat .jpg (repacks)."""

from __future__ import annotations

from pathlib import Path

from reid_datasets.base import ExpectedCounts, Splits, register_dataset
from reid_datasets.layout import DatasetLayout, ProblemLog
from reid_datasets.partial_reid import scan_split

NAME = "occluded_reid"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=(
        "Occluded_REID",
        "occluded_reid/Occluded_REID",
        "Occluded-REID",
        "OccludedREID",
        "occluded_reid",
    ),
    markers=("occluded_body_images", "whole_body_images"),
)
QUERY_FOLDER = "occluded_body_images"
GALLERY_FOLDER = "whole_body_images"


@register_dataset(
    NAME,
    expected=ExpectedCounts(query=(200, 1000), gallery=(200, 1000)),
    display="Occluded-REID",
    roles=("test",),
    order=4,
    layout=LAYOUT,
    control=True,  # its whole_body_images: whole-to-whole across its cameras
    examples=True,  # the paper's Figs. 5 and 6 show Occluded-REID
)
def load_occluded_reid(root: Path, strict: bool = True) -> Splits:
    """Parse Occluded-REID under ``root``; queries are camera 0, the gallery camera 1.

    Both ``occluded_body_images/001/001_01.tif`` and flat ``occluded_body_images/001_01.jpg``
    are read; the pid comes from the file name.

    Args:
        root: the data root.
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.
    """
    log = ProblemLog(strict)
    base = LAYOUT.locate(root)
    query = scan_split(NAME, base, QUERY_FOLDER, 0, log, recursive=True)
    gallery = scan_split(NAME, base, GALLERY_FOLDER, 1, log, recursive=True)
    return Splits(name=NAME, query=query, gallery=gallery, problems=tuple(log.lines))
