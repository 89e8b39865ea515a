"""Atomic writes of text, JSON and CSV files (tmp file + os.replace)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd


def write_text_atomic(text: str, path: Path) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def write_json_atomic(obj: Any, path: Path) -> Path:
    return write_text_atomic(json.dumps(obj, indent=2, default=str) + "\n", path)


def write_csv_atomic(df: pd.DataFrame, path: Path) -> Path:
    return write_text_atomic(df.to_csv(index=False), path)
