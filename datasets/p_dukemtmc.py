"""P-DukeMTMC-reID loader: whole and occluded body images per identity folder, train and test.

Query = ``test/occluded_body_images``, gallery = ``test/whole_body_images``, training = both
``train`` folders. The release's per-person folders name the identity; cameras follow the
field's loaders: occluded images are camera 0, whole-body images camera 1 (so, as on the other
occluded sets, nothing is filtered as "same camera"). Derived from DukeMTMC, which its owners
withdrew: read only from the user's files, every result labelled "Duke-derived".
"""

from __future__ import annotations

import re
from pathlib import Path

from reid_datasets.base import ExpectedCounts, Splits, register_dataset
from reid_datasets.label_trees import attach_mirrored_labels, check_kind
from reid_datasets.layout import DatasetLayout, ParsedName, ProblemLog, require_dir, scan_folder
from reid_datasets.occluded_duke import DUKE_NOTE
from reid_datasets.samples import Sample

NAME = "p_dukemtmc"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=("P-DukeMTMC-reID", "p_dukemtmc/P-DukeMTMC-reID", "P-DukeMTMC-reid", "p_dukemtmc"),
    markers=("train", "test"),
)
OCCLUDED, WHOLE = "occluded_body_images", "whole_body_images"
CAMERAS = {OCCLUDED: 0, WHOLE: 1}  # the field's loaders: occluded 0, whole 1
NAME_FORMAT = "<pid>/<image>.jpg (a folder per identity, named by its number)"

_PID_RE = re.compile(r"^\d+$")


def _scan(base: Path, split: str, kind: str, log: ProblemLog) -> tuple[Sample, ...]:
    """Samples of ``base/split/kind/<pid>/*``; the pid is the identity folder's number."""
    split_dir = require_dir(NAME, base, split, log)
    folder = require_dir(NAME, split_dir, kind, log) if split_dir is not None else None
    if folder is None:
        return ()

    def parse(path: Path) -> ParsedName | None:
        name = path.parent.name
        if path.parent == folder or not _PID_RE.match(name):
            return None
        return ParsedName(pid=int(name), camid=CAMERAS[kind])

    return scan_folder(NAME, folder, parse, NAME_FORMAT, log, recursive=True, by_path=True)


@register_dataset(
    NAME,
    expected=ExpectedCounts(train=(665, 12927), query=(634, 2163), gallery=(634, 9053)),
    display="P-DukeMTMC-reID",
    roles=("train", "test"),  # the field's protocol: trained and tested on itself
    order=11,
    test_label="P-DukeMTMC-reID (Duke-derived)",
    layout=LAYOUT,
    trained_on=NAME,
    note=DUKE_NOTE,
)
def load_p_dukemtmc(root: Path, labels: str | None = None, strict: bool = True) -> Splits:
    """Parse P-DukeMTMC-reID under ``root``.

    Args:
        root: the data root.
        labels: None, "ps" or "gt": attach the part labels of ``P-DukeMTMC-reID_<labels>_label``,
            a tree that mirrors the image tree (``label_trees.attach_mirrored_labels``).
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.
    """
    check_kind(NAME, labels)
    log = ProblemLog(strict)
    base = LAYOUT.locate(root)
    train = _scan(base, "train", WHOLE, log) + _scan(base, "train", OCCLUDED, log)
    splits = {
        "train": tuple(sorted(train, key=lambda s: s.path.as_posix())),
        "query": _scan(base, "test", OCCLUDED, log),
        "gallery": _scan(base, "test", WHOLE, log),
    }
    if labels is not None:
        splits = attach_mirrored_labels(NAME, splits, base, LAYOUT.candidates[0], labels, log)
    return Splits.of(NAME, splits, log.lines)
