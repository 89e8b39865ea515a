"""Hand-made tidy result rows shared by the results, tables, figures and regression tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.store.rows import make_rows

QUERY_SETS = {
    "market1501": "query",
    "partial_reid": "partial_body_images",
    "partial_ilids_2018": "Probe",
    "partial_ilids_2019": "Probe",
    "occluded_reid": "occluded_body_images",
}


def rows(
    method: str,
    dataset: str,
    mode: str = "multi",
    seed: int = 0,
    vis: bool = True,
    run: str = "run_a",
    data: str = "synthetic",
    distance: str = "paper",
    query_set: str | None = None,
    labels: str = "none",
    extra: dict[str, Any] | None = None,
    **metrics: float,
) -> list[dict[str, Any]]:
    """Rows of one evaluation context, with the given metric values."""
    context = {
        "run": run,
        "method": method,
        "dataset": dataset,
        "query_set": query_set or QUERY_SETS[dataset],
        "mode": mode,
        "distance": distance,
        "vis": vis,
        "seed": seed,
        "data": data,
        "labels": labels,
        **(extra or {}),
    }
    return make_rows(context, metrics)


def frame(*groups: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame of several groups of rows."""
    return pd.DataFrame([row for group in groups for row in group])
