"""Per-query results: one tidy row per (method, seed, test set, protocol, query), gzip CSV.

Each job writes its rows to ``<job>/per_query.csv.gz``; the runner then merges them into the run
folder's ``per_query.csv.gz`` (the job's earlier rows replaced, so a resumed or re-evaluated job
never duplicates them). Both are written atomically. Claims with paired bootstrap intervals and
accuracy by number of visible parts are computed from these rows (``benchmark.reporting.claims``).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.atomic import write_bytes_atomic
from benchmark.errors import DataError
from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.ranking import PerQuery
from benchmark.store.results import result_files

PER_QUERY_FILE = "per_query.csv.gz"
# The columns a result row is keyed by (rows.KEY_COLUMNS without trial and metric), in order.
KEY = (
    "run",
    "method",
    "seed",
    "dataset",
    "query_set",
    "mode",
    "distance",
    "vis",
    "data",
    "labels",
    "occlusion",
)
# first_match_rank: 1-based rank of the first true match (pessimistic ties), -1 for a query
# with no match (valid False); visible_parts: the method's predicted visibility of the query as
# bits in its part order (HPNet: head, torso, upper legs, lower legs), "" for methods that
# predict no visibility; n_visible: its count of ones (empty then).
COLUMNS = KEY + (
    "query",
    "pid",
    "camid",
    "valid",
    "first_match_rank",
    "ap",
    "ap_zzd",
    "tied",
    "visible_parts",
    "n_visible",
)


def query_frame(
    context: Mapping[str, Any], per: PerQuery | None, query: FeatureBank, parts: bool
) -> pd.DataFrame | None:
    """Per-query rows of one multi-gallery-shot protocol (None for other modes).

    Args:
        context: the result rows' context (method, seed, dataset, query_set, mode, distance,
            vis, data, labels and, under a condition, occlusion); other keys are ignored.
        per: the protocol's per-query results, in query order.
        query: the query bank the protocol ranked (pids, camids, predicted visibility).
        parts: whether the method predicts part visibility (else visible_parts stays empty).
    """
    if per is None or context["mode"] != "multi":
        return None  # single-shot trials rank the same queries; the multi rows carry them
    n = len(query)
    assert per.first_rank.shape[0] == n, "per-query results and query bank differ in length"
    keys = {k: context.get(k) for k in KEY if k != "run"}
    frame = pd.DataFrame({k: [v] * n for k, v in keys.items()})
    valid = per.valid.numpy()
    rank = per.first_rank.numpy() + 1
    frame = frame.assign(
        query=range(n),
        pid=query.pids.numpy(),
        camid=query.camids.numpy(),
        valid=valid,
        first_match_rank=np.where(valid, rank, -1),
        ap=per.ap.numpy(),
        ap_zzd=per.ap_zzd.numpy(),
        tied=per.first_tied.numpy() & valid,
    )
    bits = (query.visibility > 0.5).to("cpu").int()  # [Q, P]
    if parts:
        frame["visible_parts"] = ["".join(map(str, row)) for row in bits.tolist()]
        frame["n_visible"] = pd.array(bits.sum(1).tolist(), dtype="Int64")
    else:
        frame["visible_parts"] = ""
        frame["n_visible"] = pd.array([None] * n, dtype="Int64")
    return frame


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write per-query rows as gzip CSV atomically; returns the path.

    The gzip header carries no file name and time, so the same rows give the same bytes.
    """
    data = gzip.compress(frame.to_csv(index=False).encode("utf-8"), mtime=0)
    return write_bytes_atomic(data, path)


def save_job(frames: list[pd.DataFrame | None], job: Path) -> Path:
    """Write one job's per-query rows to ``job/per_query.csv.gz``."""
    kept = [f for f in frames if f is not None]
    frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=COLUMNS[1:])
    return write_frame(frame[list(COLUMNS[1:])], Path(job) / PER_QUERY_FILE)


def read_frame(path: Path) -> pd.DataFrame:
    """Per-query rows of one file, typed (pattern kept as text, e.g. "0011")."""
    text = {c: str for c in ("run", "method", "dataset", "query_set", "mode", "distance")}
    text |= {"data": str, "labels": str, "visible_parts": str}
    try:
        frame = pd.read_csv(path, dtype=text)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{path} is not a readable per-query file ({e}); regenerate it") from e
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=COLUMNS)
    missing = [c for c in COLUMNS if c not in frame.columns and c != "run"]
    if missing:
        raise DataError(f"{path} lacks per-query columns {', '.join(missing)}; regenerate it")
    frame["visible_parts"] = frame["visible_parts"].fillna("")
    frame["n_visible"] = frame["n_visible"].astype("Int64")
    for col in ("vis", "valid", "tied"):
        frame[col] = frame[col].astype(str).str.lower().isin(("true", "1"))
    frame["occlusion"] = pd.to_numeric(frame["occlusion"], errors="coerce")
    return frame


def merge_job(run_dir: Path, job: Path, method: str, seed: int) -> Path | None:
    """Replace the rows of ``method`` x ``seed`` in ``run_dir/per_query.csv.gz`` by the job's."""
    source = Path(job) / PER_QUERY_FILE
    if not source.is_file():
        return None
    new = read_frame(source).assign(run=Path(run_dir).name)
    target = Path(run_dir) / PER_QUERY_FILE
    if target.is_file():
        old = read_frame(target)
        old = old[~((old["method"] == method) & (old["seed"] == int(seed)))]
        new = pd.concat([old, new], ignore_index=True) if len(old) else new
    return write_frame(new[list(COLUMNS)], target)


def load_per_query(path: Path) -> pd.DataFrame | None:
    """Per-query rows stored beside each results.csv under ``path`` (None if there are none).

    Args:
        path: a run folder, a results.csv, a sweep store or a folder of run folders.
    """
    files = [p.parent / PER_QUERY_FILE for p in result_files(Path(path))]
    found = sorted({p for p in files if p.is_file()})
    if not found:
        return None
    frames = [read_frame(p) for p in found]
    return pd.concat(frames, ignore_index=True)
