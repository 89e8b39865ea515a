"""Partial-REID loader: partial (or occluded) body queries against whole-body gallery images."""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.errors import ConfigError
from reid_datasets.base import ExpectedCounts, Sample, Splits, register_dataset
from reid_datasets.layout import (
    DatasetLayout,
    ParsedName,
    ProblemLog,
    find_dir,
    require_dir,
    scan_folder,
)

NAME = "partial_reid"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=(
        "Partial-REID_Dataset",
        "partial_reid/Partial-REID_Dataset",
        "Partial_REID",
        "Partial-REID",
        "partial_reid",
    ),
    markers=("whole_body_images", "partial_body_images", "occluded_body_images"),
)
# Codebases disagree on the query folder (DESIGN.md): offer both, tables name the one used.
QUERY_FOLDERS = ("partial_body_images", "occluded_body_images")
GALLERY_FOLDER = "whole_body_images"
NAME_FORMAT = "PID_NN (e.g. 001_01.jpg)"

_NAME_RE = re.compile(r"^(\d+)_\d+$")


def parse_name(stem: str, camid: int) -> ParsedName | None:
    """``001_01`` -> pid 1 (camid given by the split); None if it does not parse."""
    match = _NAME_RE.match(stem)
    return ParsedName(pid=int(match.group(1)), camid=camid) if match else None


def scan_split(
    dataset: str, base: Path, folder_name: str, camid: int, log: ProblemLog, recursive: bool = False
) -> tuple[Sample, ...]:
    """Samples of one ``PID_NN`` folder under ``base`` (also used by Occluded-REID)."""
    folder = require_dir(dataset, base, folder_name, log)
    if folder is None:
        return ()
    return scan_folder(
        dataset, folder, lambda stem: parse_name(stem, camid), NAME_FORMAT, log, recursive
    )


@register_dataset(
    NAME,
    expected=ExpectedCounts(query=(60, 300), gallery=(60, 300)),
    display="Partial-REID",
    roles=("test",),
    order=1,
    layout=LAYOUT,
    control=True,  # its whole_body_images: whole-to-whole across its cameras
    # the query folder differs between codebases: a run names it (its tables say which)
    options={"query_folder": "eval.partial_reid_query"},
)
def load_partial_reid(
    root: Path, query_folder: str = "partial_body_images", strict: bool = True
) -> Splits:
    """Parse Partial-REID under ``root``; queries are camera 0, the gallery camera 1.

    Args:
        root: the data root.
        query_folder: "partial_body_images" (cropped; DSR, EANet, fast-reid) or
            "occluded_body_images" (the official HPNet code, KPR, PVPM).
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.
    """
    if query_folder not in QUERY_FOLDERS:
        raise ConfigError(
            f"{NAME}: unknown query_folder {query_folder!r}; choose one of: "
            + ", ".join(QUERY_FOLDERS)
        )
    log = ProblemLog(strict)
    base = LAYOUT.locate(root)
    query = scan_split(NAME, base, query_folder, 0, log)
    gallery = scan_split(NAME, base, GALLERY_FOLDER, 1, log)
    # the other query folder too, when the release has it: every table names both (DESIGN)
    extra = {}
    for other in QUERY_FOLDERS:
        if other != query_folder and find_dir(base, other) is not None:
            extra[other] = scan_split(NAME, base, other, 0, log)
    return Splits(
        name=NAME,
        query=query,
        gallery=gallery,
        info={"query_folder": query_folder},
        problems=tuple(log.lines),
        extra_queries=extra,
    )
