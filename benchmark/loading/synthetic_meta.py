"""The synthetic data's per-image facts (``synthetic_images.csv``, written by the generator):
each image's camera within its set, its occluder and visible share, a partial crop's box."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmark.errors import DataError

META = "synthetic_images.csv"
COLUMNS = ("path", "camera", "occluder", "visible_fraction", "source_box")  # version 3 on


def read_meta(root: Path) -> list[dict[str, str]]:
    """The rows of ``root/synthetic_images.csv``; an older tree's file is a one-line error."""
    path = Path(root) / META
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DataError(f"cannot read {path} ({e}); this needs the synthetic data") from e
    if rows and any(c not in rows[0] for c in COLUMNS):
        raise DataError(f"{path} is from an older generator; delete its folder to redraw it")
    return rows
