"""Per-query tables: the claims table and accuracy by number of visible parts (Markdown, LaTeX)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmark.reporting.claims import (
    BOOTSTRAP_METHOD,
    CONFIDENCE,
    N_RESAMPLES,
    Claim,
    claims_frame,
    differences_frame,
)
from benchmark.reporting.labels import dataset_label, escape_latex, row_label, row_order
from benchmark.reporting.table_render import SYNTHETIC_NOTE, markdown_row
from reid_datasets.base import dataset_rank


def latex_text(text: str) -> str:
    """``escape_latex`` plus math-mode comparison signs (``>`` is not a text glyph in OT1)."""
    return escape_latex(text).replace(">=", r"$\geq$").replace(">", "$>$")


MISSING_NOTE = (
    "Claims, differences and visible-part tables skipped: no per_query.csv.gz beside the results "
    "(a run from before per-query results were stored); rerun the evaluation to get them."
)


def visible_parts_frame(per_query: pd.DataFrame) -> pd.DataFrame:
    """Rank-1 and mAP (fractions) by the query's number of predicted visible parts.

    Valid standard-protocol multi-shot queries tested with visibility, of methods that predict
    visibility; every (query, seed) pair counts once, so cells pool the seeds.

    Returns:
        Columns data, distance, method, dataset, query_set, n_visible, queries, seeds, rank1, mAP.
    """
    pq = per_query
    keep = pq["vis"] & (pq["mode"] == "multi") & pq["occlusion"].isna() & pq["valid"]
    rows = pq[keep & (pq["visible_parts"] != "")]
    rows = rows.assign(hit=(rows["first_match_rank"] == 1).astype(float))
    keys = ["data", "distance", "method", "dataset", "query_set", "n_visible"]
    out = rows.groupby(keys, sort=True).agg(
        queries=("hit", "size"),
        seeds=("seed", "nunique"),
        rank1=("hit", "mean"),
        mAP=("ap", "mean"),
    )
    return out.reset_index()


def _data_note(data: str, distances: list[str]) -> str:
    kind = f"synthetic ({SYNTHETIC_NOTE})" if data == "synthetic" else data
    return f"Data: {kind}; distance: {', '.join(distances)}."


def _bootstrap_note(frame: pd.DataFrame, resamples: int) -> str:
    """How the intervals of ``frame`` (claims or differences rows) were computed."""
    seeds = sorted(frame["seeds"].unique())
    counts = "-".join(str(s) for s in dict.fromkeys((seeds[0], seeds[-1])))
    return (
        f"each query averaged over the {counts} seed(s) both have (a training-free reference "
        f"has no seed: it pairs with every seed of the method), then a {CONFIDENCE:.0%} "
        f"paired bootstrap interval over queries (scipy.stats.bootstrap, paired=True, "
        f"{BOOTSTRAP_METHOD}, {resamples} resamples, seed 0; the same queries are drawn for "
        "both methods)."
    )


def _claims_caption(frame: pd.DataFrame, data: str, not_run: list[Claim], resamples: int) -> str:
    text = (
        "Paper claims tested on per-query results (multi-gallery-shot). Difference = method "
        "minus reference in percentage points of per-query Rank-1 hit (first match at rank 1) "
        "and AP; " + _bootstrap_note(frame, resamples) + " Verdict: holds if "
        "the interval lies entirely on the claimed side of 0 (> 0, or >= 0 for a >= claim), "
        "reversed if entirely below 0, else inconclusive. "
        + _data_note(data, sorted(frame["distance"].unique()))
    )
    if not_run:
        names = "; ".join(f"({c.key}) {c.text}" for c in not_run)
        text += f" Not run (a method or the w/o vis test is missing): {names}."
    return text


def _several_query_sets(frame: pd.DataFrame) -> set[str]:
    """The data sets with more than one query set in ``frame`` (Partial-REID, controls)."""
    counts = frame.groupby("dataset")["query_set"].nunique()
    return set(counts[counts > 1].index)


def _claim_cells(row: pd.Series, latex: bool, several_sets: set[str]) -> list[str]:
    dataset = dataset_label(row["dataset"])
    if row["dataset"] in several_sets:  # name the query set where a data set has several
        dataset += f" ({row['query_set']})"
    method = row_label(row["method"], row["method_vis"], latex)
    reference = row_label(row["reference"], row["reference_vis"], latex)
    text = f"({row['claim']}) {row['text']}"
    metric = "R1" if row["metric"] == "rank1" else "mAP"
    cells = [latex_text(c) if latex else c for c in (text, dataset, metric)]
    numbers = [f"{row['difference']:+.1f}", f"[{row['low']:+.1f}, {row['high']:+.1f}]"]
    counts = [str(row["queries"]), str(row["seeds"]), row["verdict"]]
    return cells + [method, reference] + numbers + counts


HEADER = [
    "Claim",
    "Data set",
    "Metric",
    "Method",
    "Reference",
    "Difference",
    "95% CI",
    "Queries",
    "Seeds",
    "Verdict",
]


def render_claims(
    frame: pd.DataFrame, not_run: list[Claim], fmt: str, resamples: int = N_RESAMPLES
) -> str:
    """The claims table(s), one per kind of data, as Markdown ("md") or LaTeX ("latex")."""
    if frame.empty:
        names = "; ".join(f"({c.key}) {c.text}" for c in not_run)
        return f"Claims: none of the paper's claims can be tested here (not run: {names}).\n"
    out = []
    for data in sorted(frame["data"].unique(), key=lambda d: (d != "real", d)):
        part = frame[frame["data"] == data]
        part = part.assign(order=part["dataset"].map(dataset_rank))  # the registry's set order
        part = part.sort_values(["claim", "order"], kind="stable")  # claim keys sort a, a0, b..
        several = _several_query_sets(part)
        body = [_claim_cells(r, fmt == "latex", several) for _, r in part.iterrows()]
        caption = _claims_caption(part, data, not_run, resamples)
        out.append(_render(f"claims-{data}", caption, HEADER, body, fmt))
    return "\n".join(out)


METRIC_ORDER = ("rank1", "mAP")
DIFF_HEADER = [
    "Method",
    "Reference",
    "Data set",
    "R1 difference",
    "R1 95% CI",
    "mAP difference",
    "mAP 95% CI",
    "Queries",
    "Seeds",
]


def _difference_cells(pair: pd.DataFrame, latex: bool, several_sets: set[str]) -> list[str]:
    first = pair.iloc[0]
    dataset = dataset_label(first["dataset"])
    if first["dataset"] in several_sets:
        dataset += f" ({first['query_set']})"
    cells = [
        row_label(first["method"], first["method_vis"], latex),
        row_label(first["reference"], first["reference_vis"], latex),
        escape_latex(dataset) if latex else dataset,
    ]
    for metric in METRIC_ORDER:
        row = pair[pair["metric"] == metric].iloc[0]
        cells += [f"{row['difference']:+.1f}", f"[{row['low']:+.1f}, {row['high']:+.1f}]"]
    return cells + [str(first["queries"]), str(first["seeds"])]


def render_differences(frame: pd.DataFrame, fmt: str, resamples: int = N_RESAMPLES) -> str:
    """Each row's difference to its reference with its interval, per kind of data ("" if none)."""
    if frame.empty:
        return ""
    out = []
    for data in sorted(frame["data"].unique(), key=lambda d: (d != "real", d)):
        part = frame[frame["data"] == data]
        keys = ["method", "method_vis", "reference", "reference_vis", "dataset", "query_set"]
        keys += ["distance", "labels_a", "labels_b"]
        groups = [g for _, g in part.groupby(keys, sort=False)]
        groups.sort(
            key=lambda g: (
                row_order(g["method"].iloc[0], bool(g["method_vis"].iloc[0])),
                dataset_rank(g["dataset"].iloc[0]),
                g["query_set"].iloc[0],
            )
        )
        several = _several_query_sets(part)
        body = [_difference_cells(g, fmt == "latex", several) for g in groups]
        caption = (
            "Each row's difference to its reference, multi-gallery-shot, on every test set: "
            "a method against the baseline (or the reference it registers), an ablation "
            "against the full method, a test w/o vis row against the same model tested with "
            "visibility. Difference = row minus reference in percentage points of per-query "
            "Rank-1 hit and AP; " + _bootstrap_note(part, resamples) + " An interval "
            "that excludes 0 is a difference these queries resolve; see the claims table for "
            "the paper's claims. " + _data_note(data, sorted(part["distance"].unique()))
        )
        out.append(_render(f"differences-{data}", caption, DIFF_HEADER, body, fmt))
    return "\n".join(out)


def render_visible_parts(frame: pd.DataFrame, fmt: str) -> str:
    """Accuracy by number of visible parts, one table per kind of data ("" if none)."""
    out = []
    header = ["Method", "Data set", "Visible parts", "Queries", "R1", "mAP"]
    for data in sorted(frame["data"].unique(), key=lambda d: (d != "real", d)):
        part = frame[frame["data"] == data]
        part = part.assign(order=[row_order(m, True) for m in part["method"]])
        part = part.sort_values(["order", "dataset", "query_set", "n_visible"], kind="stable")
        latex = fmt == "latex"
        body = [
            [
                row_label(r["method"], True, latex),
                (escape_latex if latex else str)(dataset_label(r["dataset"])),
                str(int(r["n_visible"])),
                str(int(r["queries"])),
                f"{100 * r['rank1']:.1f}",
                f"{100 * r['mAP']:.1f}",
            ]
            for _, r in part.iterrows()
        ]
        caption = (
            "Accuracy by the query's number of visible parts (the method's own predicted "
            "visibility), multi-gallery-shot, tested with visibility; R1 and mAP in %, pooled "
            "over (query, seed) pairs; Queries counts those pairs. "
            + _data_note(data, sorted(part["distance"].unique()))
        )
        out.append(_render(f"visible-parts-{data}", caption, header, body, fmt))
    return "\n".join(out)


def _render(name: str, caption: str, header: list[str], body: list[list[str]], fmt: str) -> str:
    if fmt == "latex":
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            f"\\caption{{{latex_text(caption)}}}",
            f"\\label{{tab:{escape_latex(name)}}}",
            f"\\begin{{tabular}}{{{'l' * 3 + 'c' * (len(header) - 3)}}}",
            r"\toprule",
            " & ".join(escape_latex(h) for h in header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(row) + r" \\" for row in body]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"
    lines = [f"**{name}**. {caption}", "", markdown_row(header)]
    lines.append(markdown_row(["---"] * 3 + [":---:"] * (len(header) - 3)))
    lines += [markdown_row(row) for row in body]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Confidence:
    """The per-query tables' data, computed once for every format (the bootstrap is the cost)."""

    claims: pd.DataFrame
    not_run: list[Claim]
    differences: pd.DataFrame
    visible_parts: pd.DataFrame
    n_resamples: int


def confidence_frames(per_query: pd.DataFrame, n_resamples: int = N_RESAMPLES) -> Confidence:
    """Claims, differences and accuracy by visible parts of non-empty per-query rows."""
    claims, not_run = claims_frame(per_query, n_resamples)
    differences = differences_frame(per_query, n_resamples)
    return Confidence(claims, not_run, differences, visible_parts_frame(per_query), n_resamples)


def render_confidence(
    per_query: pd.DataFrame | None,
    fmt: str,
    n_resamples: int = N_RESAMPLES,
    frames: Confidence | None = None,
) -> str:
    """The claims, differences and visible-part tables, or a one-line note when per-query rows
    are missing; ``frames`` (``confidence_frames``) saves recomputing them for a second format."""
    if per_query is None or per_query.empty:
        return ("% " if fmt == "latex" else "") + MISSING_NOTE + "\n"
    c = frames or confidence_frames(per_query, n_resamples)
    text = render_claims(c.claims, c.not_run, fmt, c.n_resamples)
    if fmt == "latex" and c.claims.empty:
        text = "% " + text
    diffs = render_differences(c.differences, fmt, c.n_resamples)
    parts = render_visible_parts(c.visible_parts, fmt)
    return text + "".join("\n" + t for t in (diffs, parts) if t)
