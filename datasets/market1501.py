"""Market-1501 loader: bounding_box_train / query / bounding_box_test, optional part-label trees."""

from __future__ import annotations

import re
from pathlib import Path

from reid_datasets import label_trees
from reid_datasets.base import ExpectedCounts, Splits, register_dataset
from reid_datasets.layout import (
    DatasetLayout,
    ParsedName,
)

NAME = "market1501"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=(
        "Market-1501-v15.09.15",
        "market1501/Market-1501-v15.09.15",
        "Market-1501",
        "market1501",
    ),
    markers=("bounding_box_train", "bounding_box_test", "query"),
)
# Split -> folder of the release (the label trees use the same folder names).
SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
NAME_FORMAT = "PID_cCsS_FRAME_BOX (e.g. 0002_c1s1_000451_03.jpg)"

# pid (-1 junk, 0000 distractor), camera 1-9, sequence, frame, box.
_NAME_RE = re.compile(r"^(-1|\d+)_c([1-9])s\d+_\d+_\d+$")


def parse_name(stem: str) -> ParsedName | None:
    """``0002_c1s1_000451_03`` -> pid 2, camid 0 (camera number - 1); None if it does not parse."""
    match = _NAME_RE.match(stem)
    if match is None:
        return None
    return ParsedName(pid=int(match.group(1)), camid=int(match.group(2)) - 1)


def find_label_dir(market_dir: Path, kind: str) -> Path | None:
    """Market-1501's ``_ps_label`` or ``_gt_label`` tree beside ``market_dir``, if present."""
    return label_trees.find_label_dir(market_dir, kind, LAYOUT.candidates[0])


@register_dataset(
    NAME,
    expected=ExpectedCounts(train=(751, 12936), query=(750, 3368), gallery=(750, 15913)),
    display="Market-1501",
    roles=("train", "test"),  # trains every method; its query/gallery is the holistic test
    order=0,
    test_label="Market-1501 (holistic)",
    layout=LAYOUT,
    market_ids=True,  # pid -1 junk (dropped at load), 0000 distractors (never a match)
)
def load_market1501(root: Path, labels: str | None = None, strict: bool = True) -> Splits:
    """Parse Market-1501 under ``root``.

    Junk images (pid -1) are dropped; distractors (pid 0000) stay in the gallery as pid 0.

    Args:
        root: the data root.
        labels: None, "ps" (``Market-1501-v15.09.15_ps_label``, pseudo labels) or "gt"
            (``Market-1501-v15.09.15_gt_label``, synthetic ground truth) attached as label_path.
            Labels are required for train; query/gallery get them where that label folder exists.
        strict: raise DataError on the first problem; if False, collect problems in
            Splits.problems and return what could be read.
    """
    return label_trees.load_split_release(
        NAME, LAYOUT, SPLIT_FOLDERS, parse_name, NAME_FORMAT, root, labels, strict
    )
