"""Regression check: compare current results with reference results within a tolerance.

Rules, by metric:
- rank1/rank3/rank5/rank10/mAP: higher is better; "regressed" when current < reference -
  tolerance (fractions: 0.02 is 2 points); a rise of any size is "ok".
- queries/skipped/trials (counts): must be equal, else "changed" (fails): a different count
  means a different data set or protocol, so the other numbers are not comparable either.
- anything else (the "*_std" trial spreads): "info", shown but never failing.
- a key in the reference but not in the current results: "missing" (fails); a key only in the
  current results: "new" (passes).
Rows are joined on their key, ``benchmark.store.rows.KEY_COLUMNS``: every column that defines
what was measured (method, dataset, query_set, mode, distance, vis, seed, trial, metric, data,
labels, and a condition such as occlusion), so synthetic and real results, or a pseudo-label and a
ground-truth-label run, never compare: they show up as "missing" and "new". Values are first
averaged over runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import ConfigError
from benchmark.reporting.table_render import markdown_row
from benchmark.store.results import load_results
from benchmark.store.rows import CONDITION_COLUMNS, FRACTION_METRICS, KEY_COLUMNS

COUNT_METRICS = ("queries", "skipped", "trials")
FAILING = ("regressed", "missing", "changed")
_NONE = "-"  # stands for an absent condition value, so such keys still join


def _mean_over_runs(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    df = df.copy()
    for col in keys:
        if col not in df.columns:
            df[col] = _NONE
        elif col in CONDITION_COLUMNS:
            df[col] = df[col].map(lambda v: _NONE if pd.isna(v) else f"{float(v):g}")
    return df.groupby(keys, dropna=False)["value"].mean().reset_index()


def _status(metric: str, ref: float, cur: float, tolerance: float) -> str:
    if np.isnan(cur):
        return "missing"
    if np.isnan(ref):
        return "new"
    if metric in FRACTION_METRICS:
        return "regressed" if cur < ref - tolerance else "ok"
    if metric in COUNT_METRICS:
        return "ok" if cur == ref else "changed"
    return "info"


def compare(reference: pd.DataFrame, current: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Compare every metric of ``reference`` with ``current``.

    Args:
        reference: result rows of the reference (see ``benchmark.store.rows.ROW_COLUMNS``).
        current: result rows to check.
        tolerance: the largest allowed drop of a rank/mAP fraction (0.02 = 2 points).

    Returns:
        One row per key with the join columns, ``reference``, ``current``, ``delta`` (current -
        reference) and ``status`` ("ok", "regressed", "missing", "changed", "info", "new").
    """
    if tolerance < 0:
        raise ConfigError(f"tolerance must be >= 0, got {tolerance}; pass e.g. 0.02 (2 points)")
    keys = [
        c
        for c in KEY_COLUMNS
        if c not in CONDITION_COLUMNS or c in reference.columns or c in current.columns
    ]
    ref = _mean_over_runs(reference, keys).rename(columns={"value": "reference"})
    cur = _mean_over_runs(current, keys).rename(columns={"value": "current"})
    table = ref.merge(cur, on=keys, how="outer", sort=True)
    table["delta"] = table["current"] - table["reference"]
    table["status"] = [
        _status(m, r, c, tolerance)
        for m, r, c in zip(table["metric"], table["reference"], table["current"], strict=True)
    ]
    return table.reset_index(drop=True)


def shared_rows(table: pd.DataFrame) -> int:
    """How many rows of a ``compare`` table exist in both the reference and the current results."""
    return int((table["reference"].notna() & table["current"].notna()).sum())


def passed(table: pd.DataFrame) -> bool:
    """True when no row of a ``compare`` table is regressed, missing or changed."""
    return not table["status"].isin(FAILING).any()


def check(
    reference_path: Path, current_path: Path, tolerance: float = 0.02
) -> tuple[pd.DataFrame, bool]:
    """Load reference and current results (see ``load_results``), compare, and say if it passed."""
    table = compare(load_results(Path(reference_path)), load_results(Path(current_path)), tolerance)
    return table, passed(table)


def _fmt(metric: str, value: float, delta: bool = False) -> str:
    if np.isnan(value):
        return "-"
    if metric in COUNT_METRICS:
        return f"{value:+g}" if delta else f"{value:g}"
    return f"{100 * value:+.1f}" if delta else f"{100 * value:.1f}"


def format_check(df: pd.DataFrame) -> str:
    """A Markdown summary of a ``compare`` table: counts per status and every non-ok row.

    Rank and mAP values are shown in %; counts as numbers.
    """
    counts = df["status"].value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts.index))
    verdict = "passed" if passed(df) else "FAILED"
    lines = [f"Regression check {verdict}: {len(df)} metrics ({summary or 'none'}).", ""]
    diff = df[~df["status"].isin(["ok", "info"])]
    if diff.empty:
        return lines[0] + "\n"
    header = ["status"] + [c for c in KEY_COLUMNS if c in df.columns]
    lines += [markdown_row(header + ["reference", "current", "delta"])]
    lines += [markdown_row(["---"] * (len(header) + 3))]
    for row in diff.to_dict("records"):
        values = [str(row[c]) for c in header]
        m = row["metric"]
        values += [_fmt(m, row["reference"]), _fmt(m, row["current"]), _fmt(m, row["delta"], True)]
        lines.append(markdown_row(values))
    return "\n".join(lines) + "\n"
