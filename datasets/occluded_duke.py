"""Occluded-Duke loader: bounding_box_train / query / bounding_box_test, Duke-style names.

Occluded-Duke (Miao et al., ICCV 2019) is written by a public list-based conversion from a
DukeMTMC-reID archive the user owns. DukeMTMC was withdrawn by its owners: the suite never
downloads it, reads only the user's files and labels every result from it "Duke-derived".
"""

from __future__ import annotations

import re
from pathlib import Path

from reid_datasets import label_trees
from reid_datasets.base import ExpectedCounts, Splits, register_dataset
from reid_datasets.layout import DatasetLayout, ParsedName

NAME = "occluded_duke"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=("Occluded_Duke", "occluded_duke/Occluded_Duke", "Occluded-Duke", "occluded_duke"),
    markers=("bounding_box_train", "bounding_box_test", "query"),
)
SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
NAME_FORMAT = "PID_cC_fFRAME (e.g. 0001_c2_f0046182.jpg)"
# The caption line of every table with a Duke-derived column.
DUKE_NOTE = (
    "Duke-derived: DukeMTMC was withdrawn by its owners; read from the user's own files, "
    "never downloaded"
)

# pid, camera 1-8, frame; DukeMTMC-reID's names.
_NAME_RE = re.compile(r"^(\d+)_c([1-9])_f\d+$")


def parse_duke_name(stem: str) -> ParsedName | None:
    """``0001_c2_f0046182`` -> pid 1, camid 1 (camera number - 1); None if it does not parse."""
    match = _NAME_RE.match(stem)
    if match is None:
        return None
    return ParsedName(pid=int(match.group(1)), camid=int(match.group(2)) - 1)


@register_dataset(
    NAME,
    expected=ExpectedCounts(train=(702, 15618), query=(519, 2210), gallery=(1110, 17661)),
    display="Occluded-Duke",
    roles=("train", "test"),  # the field's protocol: trained and tested on itself
    order=10,
    test_label="Occluded-Duke (Duke-derived)",
    layout=LAYOUT,
    trained_on=NAME,
    note=DUKE_NOTE,
)
def load_occluded_duke(root: Path, labels: str | None = None, strict: bool = True) -> Splits:
    """Parse Occluded-Duke under ``root``.

    1,870 query files of the release also sit in the gallery (same name, pid and camera):
    evaluation's same-identity-same-camera rule removes them from those queries' rankings.

    Args:
        root: the data root.
        labels: None, "ps" or "gt": the part labels of ``Occluded_Duke_ps_label`` or
            ``Occluded_Duke_gt_label`` (Market-1501's format), attached as label_path.
        strict: raise DataError on the first problem; if False, collect problems in
            Splits.problems and return what could be read.
    """
    return label_trees.load_split_release(
        NAME, LAYOUT, SPLIT_FOLDERS, parse_duke_name, NAME_FORMAT, root, labels, strict
    )
