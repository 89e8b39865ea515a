"""The tidy result row: its columns, its key, and building rows from an evaluation context."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

# One row per metric value; metrics are fractions in [0, 1] (DESIGN.md "Results").
# ``labels``: the part labels the method trained on ("gt", "ps", or "none" for a method without).
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
    "labels",
)
# Optional columns that mark a row as measured under a special condition (robustness curves);
# such rows stay out of the paper tables.
CONDITION_COLUMNS = ("occlusion",)
# Optional columns that describe how a row was measured without changing what it measures:
# ``precision`` is the training precision train.amp resolved to ("fp32", "bf16", "fp16");
# ``init`` how the trunk started: "scratch", "synthetic" (the cached synthetic trunk), "file"
# (a local state dict, e.g. ImageNet weights) or "none" (a training-free method).
# ``test_cameras`` (synthetic data only): the occluded/partial sets' cameras, "own" or "market".
# ``checkpoint``: which weights the row reports: "last" (the final epoch's, chosen on no split;
# several public methods choose theirs on the test set) or "none" (a training-free method).
# ``train_set``: the ReID training set (results before the column existed: Market-1501).
# ``backbone``: the method's backbone (``method.backbone``, e.g. resnet18_quarter, timm:NAME).
DESCRIPTIVE_COLUMNS = ("precision", "init", "test_cameras", "checkpoint", "train_set", "backbone")
DEFAULT_TRAIN_SET = "market1501"  # the training set of rows that do not name one
# The identity of a row: every column that defines what was measured (all but run and value),
# so rows under different conditions (gt vs ps labels, occlusion) never replace or match each other.
KEY_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("run", "value")) + CONDITION_COLUMNS
# Metrics stored as fractions; anything else (queries, skipped, queries_no_visible,
# first_match_tied, trials, *_std) is free. mAP_zzd: the official HPNet code's trapezoid AP.
FRACTION_METRICS = ("rank1", "rank3", "rank5", "rank10", "mAP", "mAP_zzd", "mINP")
STR_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("vis", "seed", "trial", "value"))


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
        rows.append(normalise({c: row[c] for c in ROW_COLUMNS} | {k: ctx[k] for k in extras}))
    return rows


def normalise(row: Mapping[str, Any]) -> dict[str, Any]:
    """Give a row JSON-friendly Python types (bool vis, int seed/trial, float value)."""
    out = dict(row)
    out["vis"] = to_bool(out["vis"])
    out["seed"] = int(out["seed"])
    out["trial"] = int(out["trial"])
    out["value"] = float(out["value"])
    for col in STR_COLUMNS:
        out[col] = None if out[col] is None else str(out[col])
    for col in CONDITION_COLUMNS:
        if col in out and out[col] is not None and not _is_nan(out[col]):
            out[col] = float(out[col])
        elif col in out:
            out[col] = None
    return out


def to_bool(value: Any) -> bool:
    """``vis`` as a bool ("True"/"false"/"1"/"no" as CSV readers give it)."""
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
    """The identity of a row: its ``KEY_COLUMNS`` values (an absent or NaN condition = None)."""
    values = (row.get(c) for c in KEY_COLUMNS)
    return tuple(None if _is_nan(v) else v for v in values)


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with ``ROW_COLUMNS`` first, then any condition column."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    extras = [c for c in frame.columns if c not in ROW_COLUMNS]
    return frame[list(ROW_COLUMNS) + extras]


def main_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows measured under the standard protocol (no condition such as ``occlusion`` set)."""
    keep = pd.Series(True, index=frame.index)
    for col in CONDITION_COLUMNS:
        if col in frame.columns:
            keep &= frame[col].isna()
    return frame[keep]
