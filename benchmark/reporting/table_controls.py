"""The occlusion cost table: each occluded/partial set against its whole-body control.

Occlusion cost = control - occluded (the set's own people and cameras, only the occlusion
differs); camera shift = holistic Market-1501 - control (the same kind of image, the set's
other cameras). Multi-gallery-shot Rank-1 in points, mean over seeds (benchmark.loading.controls).
The cost's interval is a paired bootstrap over identities: the control's and the occluded
queries are different images of the same people, so each identity's mean Rank-1 hit in one is
paired with its mean in the other (the claims' bootstrap, ``paired_interval``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.loading.controls import CONTROL
from benchmark.reporting.claims import N_RESAMPLES, paired_interval
from benchmark.reporting.labels import dataset_label, escape_latex, row_label, row_order
from benchmark.reporting.table_render import SYNTHETIC_NOTE, markdown_row
from benchmark.store.rows import main_rows

HOLISTIC = "market1501"  # the training set's own test split: the holistic reference
HEADERS = ["Method", "Test set (query)", "Control R1", "Occluded R1", "Occlusion cost",
           "95% CI (ids)", "Camera shift"]  # fmt: skip


def cost_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, set, query set) with a control: the four numbers in points."""
    rows = main_rows(df)
    rows = rows[(rows["mode"] == "multi") & rows["vis"].astype(bool) & (rows["metric"] == "rank1")]
    keys = ["data", "distance", "method"]
    r1 = rows.groupby([*keys, "dataset", "query_set"], sort=False)["value"].mean().mul(100)
    out = []
    for (data, distance, method, dataset, query_set), control in r1.items():
        if query_set != CONTROL:
            continue
        holistic = r1.get((data, distance, method, HOLISTIC, "query"))
        for (d2, q2), occluded in r1[(data, distance, method)].items():
            if d2 != dataset or q2 == CONTROL:
                continue
            out.append(
                {"data": data, "distance": distance, "method": method, "dataset": dataset}
                | {"query_set": q2, "control": control, "occluded": occluded}
                | {"cost": control - occluded}
                | {"camera_shift": None if holistic is None else holistic - control}
            )
    return pd.DataFrame(out)


def cost_interval(per_query: pd.DataFrame | None, row: Any, n_resamples: int = N_RESAMPLES) -> str:
    """The cost's 95% paired bootstrap interval over identities, in points ("-" without
    per-query rows or with fewer than two shared identities)."""
    if per_query is None or per_query.empty:
        return "-"
    pq = per_query[
        (per_query["method"] == row.method)
        & (per_query["dataset"] == row.dataset)
        & (per_query["data"] == row.data)
        & (per_query["distance"] == row.distance)
        & (per_query["mode"] == "multi")
        & per_query["vis"].astype(bool)
        & per_query["valid"].astype(bool)
        & per_query["occlusion"].isna()
    ]
    hit = (pq["first_match_rank"] == 1).astype(float)
    per_id = pq.assign(hit=hit).groupby(["query_set", "pid"])["hit"].mean()
    if CONTROL not in per_id.index or row.query_set not in per_id.index:
        return "-"
    pairs = pd.concat([per_id[CONTROL], per_id[row.query_set]], axis=1, join="inner")
    if len(pairs) < 2:
        return "-"
    found = paired_interval(pairs.iloc[:, 0].to_numpy(), pairs.iloc[:, 1].to_numpy(), n_resamples)
    return f"[{100 * found.low:+.1f}, {100 * found.high:+.1f}]"


def render_costs(
    df: pd.DataFrame,
    fmt: str,
    per_query: pd.DataFrame | None = None,
    n_resamples: int = N_RESAMPLES,
) -> str:
    """The occlusion cost table in Markdown or LaTeX; "" when no run had a control."""
    frame = cost_frame(df)
    if frame.empty:
        return ""
    frame = frame.assign(order=[row_order(m, True) for m in frame["method"]])
    frame = frame.sort_values(["order", "dataset", "query_set"], kind="stable")
    caption = (
        "Occlusion cost and camera shift: multi-gallery-shot Rank-1 (%) of each occluded or "
        "partial set's queries against its whole-body control (its own whole-body images "
        "scored against each other across its cameras, same protocol and tie rule). "
        "Occlusion cost = control - occluded; camera shift = holistic Market-1501 - control. "
        "Mean over seeds; the cost's 95% interval is a paired bootstrap over identities "
        f"(each identity's mean hit, control vs occluded). Data: {SYNTHETIC_NOTE}."
    )
    body = []
    for row in frame.itertuples():
        shift = "-" if pd.isna(row.camera_shift) else f"{row.camera_shift:+.1f}"
        cells = [row_label(row.method, True, latex=fmt == "latex"),
                 f"{dataset_label(row.dataset)} ({row.query_set})", f"{row.control:.1f}",
                 f"{row.occluded:.1f}", f"{row.cost:+.1f}",
                 cost_interval(per_query, row, n_resamples), shift]  # fmt: skip
        body.append(cells)
    if fmt == "latex":
        lines = ["\\begin{table}[t]", "\\centering", "\\small", "\\begin{tabular}{llrrrcr}",
                 "\\toprule", " & ".join(HEADERS) + " \\\\", "\\midrule"]  # fmt: skip
        lines += [" & ".join(escape_latex(c) if i else c for i, c in enumerate(cells)) + " \\\\"
                  for cells in body]  # fmt: skip
        lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{escape_latex(caption)}}}",
                  "\\end{table}"]  # fmt: skip
        return "\n".join(lines) + "\n"
    head = [f"**occlusion-cost**. {caption}", "", markdown_row(HEADERS)]
    head.append(markdown_row(["---"] * 2 + [":---:"] * 5))
    return "\n".join(head + [markdown_row(c) for c in body]) + "\n"
