"""Built tables -> Markdown, LaTeX (booktabs) and CSV text, captions stating the protocol."""

from __future__ import annotations

import io

import pandas as pd

from benchmark.evaluation.rerank import describe
from benchmark.reporting.labels import dataset_label, escape_latex, row_label
from benchmark.reporting.table_build import Column, RowKey, Table
from benchmark.reporting.table_parsing import METRIC_NAMES as PARSING_NAMES
from benchmark.reporting.table_parsing import PARSING_MODE, parsing_protocol
from reid_datasets.base import dataset_info

METRIC_NAMES = {"rank1": "R1", "rank3": "R3", "rank5": "R5", "rank10": "R10", "mAP": "mAP"}
METRIC_NAMES |= {"mAP_zzd": "mAP_zzd", "mINP": "mINP"}
METRIC_NAMES |= PARSING_NAMES
DISTANCES = {
    "paper": "paper eq. (1) (Euclidean on unit part features over commonly visible parts)",
    "official": "official HPNet code (cosine; query-visible plus commonly visible parts)",
}
SYNTHETIC_NOTE = "synthetic data: not comparable to the paper's numbers on real data"
TIE_NOTE = (
    "Ties: pessimistic (at equal distance, +inf included, a true match ranks after every "
    "non-match), so no value depends on the gallery's order."
)
CHECKPOINTS = {
    "last": "the last epoch's weights, chosen on no split",
    "none": "none (training-free)",
}
MINP_NOTE = (
    "mINP: mean inverse negative penalty (Ye et al., TPAMI 2021): per query the number of "
    "matches over the rank of the hardest one, pessimistic ties like the rest."
)
ZZD_NOTE = (
    "mAP_zzd: the official HPNet code's trapezoid AP (ap_zzd), shown for rows under the "
    "official code's distance (the official profile) in place of torchreid's mAP."
)


def distance_text(distance: str) -> str:
    """How a caption states a row's distance, re-ranking and its "no common part" rule included."""
    base, rerank = describe(distance)
    text = DISTANCES.get(base, base)
    if rerank is None:
        return text
    return (
        f"{text}, then k-reciprocal re-ranking (Zhong et al., CVPR 2017; {rerank}; a pair "
        "sharing no visible part first takes its row's largest finite distance)"
    )


def _label(table: Table, row: RowKey, latex: bool) -> str:
    label = row_label(row.method, row.vis, latex)
    if len({r.distance for r in table.all_rows}) > 1:
        label += f" ({escape_latex(row.distance) if latex else row.distance} distance)"
    return label


def _group_label(table: Table, dataset: str, query_set: str) -> str:
    name = dataset_label(dataset)
    if len({c.query_set for c in table.columns if c.dataset == dataset}) > 1:
        name += f" ({query_set})"
    return name


def _cell_text(table: Table, row: RowKey, col: Column, latex: bool) -> str:
    cell = table.cells.get((row, col))
    if cell is None:
        return "--" if latex else "-"
    text = f"{cell.mean:.1f}" + ("" if cell.std is None else f" ± {cell.std:.1f}")
    text = escape_latex(text) if latex else text
    wrap: dict[str | None, tuple[str, str, str, str]] = {
        "best": ("\\textbf{", "}", "**", "**"),
        "second": ("\\underline{", "}", "_", "_"),
    }  # looked up with the cell's mark, None for an unmarked cell
    mark = wrap.get(table.marks.get((row, col)), ("", "", "", ""))
    return f"{mark[0]}{text}{mark[1]}" if latex else f"{mark[2]}{text}{mark[3]}"


def _protocol(table: Table) -> list[str]:
    spec, df = table.spec, table.frame
    if spec.mode == PARSING_MODE:
        return parsing_protocol(table)
    shot = "Multi-gallery-shot (whole gallery)"
    if spec.mode == "single":
        trials = sorted({int(v) for v in df.loc[df["metric"] == "trials", "value"]})
        trials = trials or ([table.trials] if table.trials else [])
        count = "/".join(map(str, trials)) if trials else "an unrecorded number of"
        shot = f"Single-gallery-shot, CMC averaged over {count} seeded trials"
    shown = [m for m in spec.metrics if any(c.metric == m for c in table.columns)]
    metrics = "/".join(METRIC_NAMES.get(m, m) for m in shown)
    datasets = dict.fromkeys(c.dataset for c in table.columns)
    queries = "; ".join(
        f"{dataset_label(d)}: "
        + ", ".join(sorted({c.query_set for c in table.columns if c.dataset == d}))
        for d in datasets
    )
    distances = sorted({r.distance for r in table.all_rows})
    data = f"synthetic ({SYNTHETIC_NOTE})" if table.data == "synthetic" else table.data
    lines = [
        f"{spec.title}. {shot}; {metrics} in %.",
        f"Query folder: {queries}.",
        f"Distance: {'; '.join(distance_text(d) for d in distances)}.",
        TIE_NOTE,
        f"Data: {data}.",
    ]
    if "mAP_zzd" in shown:
        lines.insert(1, ZZD_NOTE)
    if "mINP" in shown:
        lines.insert(1, MINP_NOTE)
    if "precision" in table.frame.columns:  # results before the column existed lack it
        found = sorted(table.frame["precision"].dropna().astype(str).unique())
        if found:
            lines.append(f"Training precision: {', '.join(found)}.")
    if "backbone" in table.frame.columns:  # results before the column existed lack it
        found = sorted(table.frame["backbone"].dropna().astype(str).unique())
        if found:
            lines.append(f"Backbone: {', '.join(found)}.")
    if "checkpoint" in table.frame.columns:  # results before the column existed lack it
        found = sorted(table.frame["checkpoint"].dropna().astype(str).unique())
        if found:
            lines.append(f"Checkpoint: {', '.join(CHECKPOINTS.get(c, c) for c in found)}.")
    return lines


def _training(table: Table) -> list[str]:
    """The training set and the notes of the data sets behind the table (e.g. Duke-derived)."""
    lines = [f"Trained on: {dataset_label(table.train_set)}."]
    datasets = dict.fromkeys([table.train_set, *(c.dataset for c in table.columns)])
    notes = dict.fromkeys(n for d in datasets if (n := dataset_info(d).note))
    return lines + [f"{note}." for note in notes]


def _caption(table: Table, latex: bool) -> str:
    """The caption as plain text (LaTeX-escaped when ``latex``), stating the protocol."""
    df, seeds = table.frame, sorted({c.n_seeds for c in table.cells.values()})
    counts = "-".join(str(s) for s in dict.fromkeys((seeds[0], seeds[-1])))
    spread = (
        "one seed"
        if seeds[-1] == 1
        else f"mean ± sample std (ddof=1) over {counts} seeds; a cell of one seed: its value"
    )
    parts = _protocol(table) + _training(table) + [f"Cells: {spread}."]
    if table.spec.mode == "single":
        parts.append(
            "The ± is the spread over seeds, not over single-shot trials "
            "(the trial std is in tables.csv)."
        )
    skipped = df[df["metric"] == "skipped"].groupby("dataset")["value"].max()
    if (skipped > 0).any():
        counts = ", ".join(f"{dataset_label(d)} {int(n)}" for d, n in skipped.items() if n)
        parts.append(f"Queries with no gallery match skipped: {counts}.")
    text = " ".join(parts)
    if latex:
        return escape_latex(text) + " Best per column in bold, second best underlined."
    return text + " Best per column in **bold**, second best in _italics_ (underline)."


def _markdown(table: Table) -> str:
    header = ["Method"] + [
        f"{_group_label(table, c.dataset, c.query_set)} {METRIC_NAMES.get(c.metric, c.metric)}"
        for c in table.columns
    ]
    lines = [f"**{table.spec.name}** ({table.data}). {_caption(table, latex=False)}", ""]
    lines += [markdown_row(header), markdown_row(["---"] + [":---:"] * len(table.columns))]
    for row in table.all_rows:
        cells = [_cell_text(table, row, c, latex=False) for c in table.columns]
        lines.append(markdown_row([_label(table, row, latex=False)] + cells))
    return "\n".join(lines) + "\n"


def markdown_row(cells: list[str]) -> str:
    """One Markdown table row, with ``|`` in cells escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _latex_groups(table: Table) -> tuple[str, str]:
    groups: dict[tuple[str, str], int] = {}
    for c in table.columns:
        groups[c.dataset, c.query_set] = groups.get((c.dataset, c.query_set), 0) + 1
    heads, rules, start = [], [], 2
    for (dataset, query_set), width in groups.items():
        name = escape_latex(_group_label(table, dataset, query_set))
        heads.append(f"\\multicolumn{{{width}}}{{c}}{{{name}}}")
        rules.append(f"\\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    return " & " + " & ".join(heads) + r" \\", " ".join(rules)


def _latex(table: Table) -> str:
    head, rules = _latex_groups(table)
    metrics = " & ".join(escape_latex(METRIC_NAMES.get(c.metric, c.metric)) for c in table.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{_caption(table, latex=True)}}}",
        f"\\label{{tab:{table.spec.name}-{escape_latex(table.data)}}}",
        f"\\begin{{tabular}}{{l{'c' * len(table.columns)}}}",
        r"\toprule",
        head,
        rules,
        f"Method & {metrics} \\\\",
        r"\midrule",
    ]
    for row in table.all_rows:
        if table.extra_rows and row == table.extra_rows[0] and table.rows:
            lines.append(r"\midrule")
        cells = [_cell_text(table, row, c, latex=True) for c in table.columns]
        lines.append(" & ".join([_label(table, row, latex=True)] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _csv_frame(table: Table) -> pd.DataFrame:
    records = []
    for row in table.all_rows:
        for col in table.columns:
            cell = table.cells.get((row, col))
            if cell is None:
                continue
            records.append(
                {
                    "table": table.spec.name,
                    "data": table.data,
                    "row": _label(table, row, latex=False),
                    "method": row.method,
                    "vis": row.vis,
                    "distance": row.distance,
                    "dataset": col.dataset,
                    "query_set": col.query_set,
                    "mode": table.spec.mode,
                    "metric": col.metric,
                    "mean": round(cell.mean, 2),
                    "std": None if cell.std is None else round(cell.std, 2),
                    "n_seeds": cell.n_seeds,
                    "trial_std": None if cell.trial_std is None else round(cell.trial_std, 2),
                    "mark": table.marks.get((row, col), ""),
                }
            )
    return pd.DataFrame(records)


def render_tables(tables: list[Table], fmt: str) -> str:
    """The tables as one text: "md", "latex" (booktabs) or "csv" (one row per cell)."""
    if fmt == "csv":
        buffer = io.StringIO()
        pd.concat([_csv_frame(t) for t in tables], ignore_index=True).to_csv(buffer, index=False)
        return buffer.getvalue()
    render_one = _latex if fmt == "latex" else _markdown
    return "\n".join(render_one(t) for t in tables)
