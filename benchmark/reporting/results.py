"""Tidy result rows, the ResultStore of a run folder (atomic CSV and JSON), and loading results."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.atomic import write_text_atomic
from benchmark.errors import DataError, UserError

logger = logging.getLogger(__name__)

# One row per metric value; metrics are fractions in [0, 1] (DESIGN.md "Results").
ROW_COLUMNS = (
    "run",
    "method",
    "dataset",
    "query_set",
    "mode",
    "distance",
    "vis",
    "seed",
    "trial",
    "metric",
    "value",
    "data",
)
# Extra columns that mark a row as measured under a special condition (robustness curves);
# they join the row's key and such rows stay out of the paper tables.
CONDITION_COLUMNS = ("occlusion",)
# Metrics stored as fractions; anything else (queries, skipped, trials, *_std) is free.
FRACTION_METRICS = ("rank1", "rank3", "rank5", "rank10", "mAP")
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (``benchmark.atomic.write_text_atomic``)."""
    return write_text_atomic(text, path)


def make_rows(context: Mapping[str, Any], metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    """Build tidy rows, one per metric, from the evaluation context.

    Args:
        context: every column of ``ROW_COLUMNS`` except ``metric`` and ``value`` (``trial``
            defaults to -1, the aggregate; ``run`` to None, which ``ResultStore.append`` sets);
            extra keys such as ``occlusion`` become columns.
        metrics: metric name -> value; rank/mAP values must be fractions in [0, 1].

    Returns:
        Rows in ``ROW_COLUMNS`` order followed by the extra context keys.
    """
    ctx = {"run": None, "trial": -1, **context}  # ResultStore.append fills in the run id
    missing = [c for c in ROW_COLUMNS if c not in ("metric", "value") and c not in ctx]
    if missing:
        raise ValueError(f"result context lacks {', '.join(missing)}; pass every row column")
    extras = [k for k in ctx if k not in ROW_COLUMNS]
    rows = []
    for metric, value in metrics.items():
        value = float(value)
        if metric in FRACTION_METRICS and not (0.0 <= value <= 1.0 or math.isnan(value)):
            raise ValueError(f"metric {metric}={value} is not a fraction in [0, 1]")
        row = {c: ctx[c] for c in ROW_COLUMNS if c not in ("metric", "value")}
        row.update(metric=metric, value=value)
        rows.append(_normalise({c: row[c] for c in ROW_COLUMNS} | {k: ctx[k] for k in extras}))
    return rows


def _normalise(row: Mapping[str, Any]) -> dict[str, Any]:
    """Give a row JSON-friendly Python types (bool vis, int seed/trial, float value)."""
    out = dict(row)
    out["vis"] = _to_bool(out["vis"])
    out["seed"] = int(out["seed"])
    out["trial"] = int(out["trial"])
    out["value"] = float(out["value"])
    for col in ("run", "method", "dataset", "query_set", "mode", "distance", "metric", "data"):
        out[col] = None if out[col] is None else str(out[col])
    for col in CONDITION_COLUMNS:
        if col in out and out[col] is not None and not _is_nan(out[col]):
            out[col] = float(out[col])
        elif col in out:
            out[col] = None
    return out


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.strip().lower() in ("true", "1", "yes"):
            return True
        if value.strip().lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"vis must be True or False, got {value!r}")
    return bool(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def row_key(row: Mapping[str, Any]) -> tuple:
    """The identity of a row: its columns but ``value``, plus any condition (NaN = None)."""
    cols = [c for c in ROW_COLUMNS if c != "value"] + list(CONDITION_COLUMNS)
    values = (row.get(c) for c in cols)
    return tuple(None if _is_nan(v) else v for v in values)


class ResultStore:
    """Result rows of one run folder, rewritten atomically as CSV and JSON after each append.

    Args:
        run_dir: an existing run folder; use ``create`` or ``open`` rather than the constructor.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._rows: dict[tuple, dict[str, Any]] = {}

    @property
    def run_id(self) -> str:
        """The run id: the run folder's name."""
        return self.run_dir.name

    @classmethod
    def create(cls, root: Path, name: str | None = None) -> ResultStore:
        """Make a new run folder under ``root``; never reuses an existing one.

        Args:
            root: the folder holding run folders (created if needed).
            name: the run folder's name; default: a timestamp plus a short random suffix.
        """
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        if name is not None:
            run_dir = root / name
            if run_dir.exists():
                raise UserError(
                    f"run folder {run_dir} already exists; resume it with ResultStore.open "
                    "(--resume) or pick another run name"
                )
            run_dir.mkdir()
            return cls(run_dir)
        while True:  # the random suffix makes a clash very unlikely; retry if it happens
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = root / f"{stamp}-{uuid.uuid4().hex[:6]}"
            try:
                run_dir.mkdir()
            except FileExistsError:
                continue
            return cls(run_dir)

    @classmethod
    def open(cls, existing: Path) -> ResultStore:
        """Open an existing run folder to resume appending; its rows are kept."""
        run_dir = Path(existing)
        if not run_dir.is_dir():
            raise UserError(
                f"run folder {run_dir} does not exist; create a run instead of resuming"
            )
        store = cls(run_dir)
        json_path, csv_path = run_dir / RESULTS_JSON, run_dir / RESULTS_CSV
        if json_path.is_file():
            try:
                rows = json.loads(json_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise DataError(
                    f"{json_path} is not valid JSON ({e}); delete it to start over"
                ) from e
        elif csv_path.is_file():
            rows = load_results(csv_path).to_dict("records")
        else:
            rows = []
        for row in rows:  # a renamed or copied run folder takes its new name
            norm = _normalise({**row, "run": store.run_id})
            store._rows[row_key(norm)] = norm
        return store

    @property
    def rows(self) -> list[dict[str, Any]]:
        """All rows, in the order they were first appended."""
        return [dict(r) for r in self._rows.values()]

    def frame(self) -> pd.DataFrame:
        """All rows as a DataFrame with ``ROW_COLUMNS`` first."""
        return _rows_frame(self.rows)

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows (their ``run`` set to the run id) and rewrite the CSV and JSON files.

        A row whose key (every column but ``value``) is already stored replaces it in place,
        so a resumed run that re-appends the same results does not duplicate them.
        """
        for row in rows:
            missing = [c for c in ROW_COLUMNS if c not in row and c != "run"]
            if missing:
                raise ValueError(
                    f"result row lacks {', '.join(missing)}; build rows with make_rows"
                )
            norm = _normalise({**row, "run": self.run_id})
            self._rows[row_key(norm)] = norm
        self._flush()

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as ``run_dir/name`` (config.json, env.json, timings.json) atomically."""
        if Path(name).name != name or not name.endswith(".json"):
            raise ValueError(f"{name!r} must be a plain file name ending in .json")
        text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
        return atomic_write_text(self.run_dir / name, text)

    def _flush(self) -> None:
        rows = self.rows
        atomic_write_text(self.run_dir / RESULTS_JSON, json.dumps(rows, indent=1) + "\n")
        atomic_write_text(self.run_dir / RESULTS_CSV, _rows_frame(rows).to_csv(index=False))
        logger.debug("wrote %d result rows to %s", len(rows), self.run_dir)


def _rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    extras = [c for c in frame.columns if c not in ROW_COLUMNS]
    return frame[list(ROW_COLUMNS) + extras]


def _result_files(path: Path) -> list[Path]:
    if not path.exists():
        raise DataError(f"results path {path} does not exist; pass a run folder or a results.csv")
    if path.is_file():
        return [path]
    found = sorted(path.rglob(RESULTS_CSV))
    if not found:  # a folder of tidy CSVs, such as results/reference/
        found = sorted(p for p in path.glob("*.csv") if p.is_file())
    if not found:
        raise DataError(f"no {RESULTS_CSV} or tidy *.csv under {path}; pass a run folder")
    return found


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not a readable results CSV ({e}); regenerate it") from e
    missing = [c for c in ROW_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks result columns {', '.join(missing)}; is it a results.csv?")
    return frame


def load_results(path: Path) -> pd.DataFrame:
    """Load results as one DataFrame.

    Args:
        path: a run folder, a results.csv, or a folder of run folders (searched recursively;
            a folder with no results.csv is read as a folder of tidy ``*.csv`` files).

    Returns:
        All rows with ``ROW_COLUMNS`` first and typed columns (bool vis, int seed/trial).
    """
    frames = [f for f in (_read_csv(p) for p in _result_files(Path(path))) if not f.empty]
    if not frames:
        raise DataError(f"no result rows under {path}; run an evaluation first")
    frame = pd.concat(frames, ignore_index=True)
    frame["vis"] = frame["vis"].map(_to_bool).astype(bool)
    frame["seed"] = frame["seed"].astype(int)
    frame["trial"] = frame["trial"].astype(int)
    frame["value"] = frame["value"].astype(float)
    for col in ("run", "method", "dataset", "query_set", "mode", "distance", "metric", "data"):
        frame[col] = frame[col].astype(str)
    for col in CONDITION_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].astype(float)
    extras = [c for c in frame.columns if c not in ROW_COLUMNS]
    return frame[list(ROW_COLUMNS) + extras]


def main_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows measured under the standard protocol (no condition such as ``occlusion`` set)."""
    keep = pd.Series(True, index=frame.index)
    for col in CONDITION_COLUMNS:
        if col in frame.columns:
            keep &= frame[col].isna()
    return frame[keep]
