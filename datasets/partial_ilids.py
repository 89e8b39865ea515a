"""Partial-iLIDS loaders: the 2018 release (DSR, ``<pid>.jpg``) and the 2019 release (FPR)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from reid_datasets.base import ExpectedCounts, Sample, Splits, register_dataset
from reid_datasets.layout import (
    DatasetLayout,
    NameParser,
    ParsedName,
    ProblemLog,
    require_dir,
    scan_folder,
)

NAME_2018 = "partial_ilids_2018"
NAME_2019 = "partial_ilids_2019"
LAYOUT_2018 = DatasetLayout(
    dataset=NAME_2018,
    candidates=("Partial_iLIDS", "partial_ilids/Partial_iLIDS", "Partial-iLIDS"),
    markers=("Probe", "Gallery"),
)
LAYOUT_2019 = DatasetLayout(
    dataset=NAME_2019,
    candidates=("PartialILIDS", "partial_ilids_fpr/PartialILIDS", "partial_ilids_fpr"),
    markers=("Probe", "Gallery"),
)
QUERY_FOLDER = "Probe"
GALLERY_FOLDER = "Gallery"

_PID_RE = re.compile(r"^\d+$")


def parse_name_2018(stem: str, camid: int) -> ParsedName | None:
    """``12`` -> pid 12; None if the stem is not a number."""
    return ParsedName(pid=int(stem), camid=camid) if _PID_RE.match(stem) else None


def parse_name_2019(stem: str, camid: int) -> ParsedName | None:
    """The pid is the first 4 characters of the name (``0012_...`` -> 12); None otherwise."""
    head = stem[:4]
    return ParsedName(pid=int(head), camid=camid) if len(head) == 4 and head.isdigit() else None


def _at_camera(parse: Callable[[str, int], ParsedName | None], camid: int) -> NameParser:
    """``parse`` with the camera id fixed: the one-argument parser ``scan_folder`` takes."""
    return lambda stem: parse(stem, camid)


def _load(
    layout: DatasetLayout,
    root: Path,
    parse: Callable[[str, int], ParsedName | None],
    name_format: str,
    strict: bool,
) -> Splits:
    """Probe (camera 0) and Gallery (camera 1) of one release."""
    log = ProblemLog(strict)
    base = layout.locate(root)
    parts: list[tuple[Sample, ...]] = []
    for camid, folder_name in enumerate((QUERY_FOLDER, GALLERY_FOLDER)):
        folder = require_dir(layout.dataset, base, folder_name, log)
        parts.append(
            scan_folder(
                layout.dataset,
                folder,
                _at_camera(parse, camid),
                name_format,
                log,
            )
            if folder is not None
            else ()
        )
    return Splits(name=layout.dataset, query=parts[0], gallery=parts[1], problems=tuple(log.lines))


@register_dataset(
    NAME_2018,
    expected=ExpectedCounts(query=(119, 119), gallery=(119, 119)),
    display="Partial-iLIDS'18",
    roles=("test",),
    order=2,
    layout=LAYOUT_2018,
)
def load_partial_ilids_2018(root: Path, strict: bool = True) -> Splits:
    """Parse Partial-iLIDS 2018 (``Partial_iLIDS/{Probe,Gallery}/<pid>.jpg``) under ``root``.

    Args:
        root: the data root (``partial_ilids/Partial_iLIDS/`` nesting accepted too).
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.
    """
    return _load(LAYOUT_2018, root, parse_name_2018, "PID (e.g. 12.jpg)", strict)


@register_dataset(
    NAME_2019,
    expected=ExpectedCounts(query=(107, 238), gallery=(109, 238)),
    display="Partial-iLIDS'19",
    roles=("test",),
    order=3,
    layout=LAYOUT_2019,
    control=True,  # its gallery holds 2+ whole-body images of most ids (the 2018 release: one)
)
def load_partial_ilids_2019(root: Path, strict: bool = True) -> Splits:
    """Parse Partial-iLIDS 2019 (``PartialILIDS/{Probe,Gallery}/``, pid = first 4 characters).

    Args:
        root: the data root (``partial_ilids_fpr/PartialILIDS/`` nesting accepted too).
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.
    """
    return _load(LAYOUT_2019, root, parse_name_2019, "PPPP... (pid = first 4 digits)", strict)
