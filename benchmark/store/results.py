"""The ResultStore of a run folder (results.csv and results.json, atomic) and loading results."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.atomic import write_csv_atomic, write_json_atomic
from benchmark.errors import DataError, UserError, folder_problem
from benchmark.store.rows import (
    CONDITION_COLUMNS,
    ROW_COLUMNS,
    STR_COLUMNS,
    normalise,
    row_key,
    rows_frame,
    to_bool,
)

logger = logging.getLogger(__name__)

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"


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
        if problem := folder_problem(run_dir):
            raise UserError(f"run folder {run_dir} {problem}; create a run instead of resuming")
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
        try:
            for row in rows:  # a renamed or copied run folder takes its new name
                norm = normalise({**row, "run": store.run_id})
                store._rows[row_key(norm)] = norm
        except (TypeError, ValueError, KeyError) as e:
            where = json_path if json_path.is_file() else csv_path
            raise DataError(
                f"{where} holds a malformed result row ({type(e).__name__}: {e}); restore it, or "
                "delete it if the run's other results file (results.csv, results.json) is intact"
            ) from e
        return store

    @property
    def rows(self) -> list[dict[str, Any]]:
        """All rows, in the order they were first appended."""
        return [dict(r) for r in self._rows.values()]

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
            norm = normalise({**row, "run": self.run_id})
            self._rows[row_key(norm)] = norm
        self._flush()

    def replace(self, method: str, seed: int, rows: Iterable[Mapping[str, Any]]) -> None:
        """Drop every stored row of ``method`` with ``seed``, then ``append`` ``rows``.

        A re-evaluation (new ``eval.*`` settings on resume) replaces its earlier rows entirely,
        so no row measured under the old settings stays beside the new ones.
        """
        kept = {
            key: row
            for key, row in self._rows.items()
            if not (row["method"] == method and row["seed"] == int(seed))
        }
        self._rows = kept
        self.append(rows)

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as ``run_dir/name`` (config.json, env.json, timings.json) atomically."""
        if Path(name).name != name or not name.endswith(".json"):
            raise ValueError(f"{name!r} must be a plain file name ending in .json")
        return write_json_atomic(obj, self.run_dir / name, indent=2, sort_keys=True)

    def _flush(self) -> None:
        rows = self.rows
        write_json_atomic(rows, self.run_dir / RESULTS_JSON, indent=1)
        write_csv_atomic(rows_frame(rows), self.run_dir / RESULTS_CSV)
        logger.debug("wrote %d result rows to %s", len(rows), self.run_dir)


def result_files(path: Path) -> list[Path]:
    """The results files ``load_results`` reads for ``path`` (see there)."""
    if not path.exists():
        raise DataError(f"results path {path} does not exist; pass a run folder or a results.csv")
    if path.is_file():
        return [path]
    found = sorted(path.rglob(RESULTS_CSV))
    if not found:  # a folder of tidy CSVs, such as results/ci_gate/
        found = sorted(p for p in path.glob("*.csv") if p.is_file())
    if not found:
        raise DataError(f"no {RESULTS_CSV} or tidy *.csv under {path}; pass a run folder")
    return found


def _read_table(path: Path, columns: Iterable[str], kind: str, fix: str) -> pd.DataFrame:
    """``path`` as a DataFrame with ``columns``, or a one-line DataError ending in ``fix``."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not a readable {kind} CSV ({e}); {fix}") from e
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks {kind} columns {', '.join(missing)}; {fix}")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    frame = _read_table(path, ROW_COLUMNS, "result", "is it a results.csv? regenerate it")
    return _typed(frame, path)


def _bad_cell(frame: pd.DataFrame, col: str, ok: pd.Series, path: Path, kind: str) -> DataError:
    """A one-line error naming the first cell of ``col`` that is not ``kind``."""
    first = ok[~ok].index[0]
    line = int(first) + 2  # the header is line 1
    value = str(frame.at[first, col])  # as the file has it, not a numpy repr
    return DataError(
        f"{path} line {line}: {col} must be {kind}, got {value!r}; fix the cell or regenerate it"
    )


def _numbers(frame: pd.DataFrame, col: str, path: Path, integer: bool) -> pd.Series:
    """``col`` as numbers (NaN allowed for floats), or a DataError naming the bad cell."""
    values = pd.to_numeric(frame[col], errors="coerce")
    ok = values.notna() | frame[col].isna()
    if integer:
        ok = values.notna() & (values % 1 == 0)
    if not ok.all():
        raise _bad_cell(frame, col, ok, path, "an integer" if integer else "a number")
    return values.astype(int) if integer else values.astype(float)


def _flags(frame: pd.DataFrame, col: str, path: Path) -> pd.Series:
    """``col`` as bools (True/False, 1/0, yes/no), or a DataError naming the bad cell."""

    def parse(value):
        try:
            return None if pd.isna(value) else to_bool(value)
        except ValueError:
            return None

    values = frame[col].map(parse)
    ok = values.notna()
    if not ok.all():
        raise _bad_cell(frame, col, ok, path, "True or False")
    return values.astype(bool)


def _typed(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Rows with typed columns (bool vis, int seed/trial, float value and conditions)."""
    frame = frame.copy()
    frame["vis"] = _flags(frame, "vis", path)
    for col in ("seed", "trial"):
        frame[col] = _numbers(frame, col, path, integer=True)
    frame["value"] = _numbers(frame, "value", path, integer=False)
    for col in STR_COLUMNS:
        frame[col] = frame[col].astype(str)
    for col in CONDITION_COLUMNS:
        if col in frame.columns:
            frame[col] = _numbers(frame, col, path, integer=False)
    return frame


def load_results(path: Path) -> pd.DataFrame:
    """Load results as one DataFrame.

    Args:
        path: a run folder, a results.csv, or a folder of run folders (searched recursively;
            a folder with no results.csv is read as a folder of tidy ``*.csv`` files).

    Returns:
        All rows with ``ROW_COLUMNS`` first and typed columns (bool vis, int seed/trial).

    Raises:
        DataError: a missing or unreadable file, or a cell of the wrong type (one line naming
            the file, line and column).
    """
    frames = [f for f in (_read_csv(p) for p in result_files(Path(path))) if not f.empty]
    if not frames:
        raise DataError(f"no result rows under {path}; run an evaluation first")
    frame = pd.concat(frames, ignore_index=True)
    extras = [c for c in frame.columns if c not in ROW_COLUMNS]
    return frame[list(ROW_COLUMNS) + extras]


ZOOM_CSV = "zoom.csv"  # ``benchmark zoom``: the partial crops in place and at each zoom
ZOOM_COLUMNS = ("method", "seed", "dataset", "presentation", "zoom", "metric", "value")


def load_zoom(path: Path) -> pd.DataFrame | None:
    """The zoom rows stored beside each results.csv under ``path`` (None if there are none)."""
    found = sorted({p.parent / ZOOM_CSV for p in result_files(Path(path))})
    fix = "rerun 'benchmark zoom'"
    frames = [_read_table(p, ZOOM_COLUMNS, "zoom", fix) for p in found if p.is_file()]
    return pd.concat(frames, ignore_index=True) if frames else None
