"""Result DataFrame -> Markdown / LaTeX / CSV tables laid out like the paper's Tables 2, 3 and 4."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.atomic import write_text_atomic
from benchmark.errors import UnknownNameError, UserError
from benchmark.reporting.rows import main_rows

FORMATS = ("md", "latex", "csv")
DATASET_NAMES = {
    "market1501": "Market-1501",
    "partial_reid": "Partial-REID",
    "partial_ilids_2018": "Partial-iLIDS'18",
    "partial_ilids_2019": "Partial-iLIDS'19",
    "occluded_reid": "Occluded-REID",
}
METRIC_NAMES = {"rank1": "R1", "rank3": "R3", "rank5": "R5", "rank10": "R10", "mAP": "mAP"}
# Table 4's rows in the paper's order, as (method, vis); vis=False is "test w/o vis".
ABLATION_ROWS = (
    ("baseline", True),
    ("hpnet", False),
    ("hpnet_share_conv5", True),
    ("hpnet_wo_triplet", True),
    ("hpnet_wo_coco", True),
    ("hpnet", True),
)
# (Markdown label, LaTeX label) of the paper's rows; other methods show their registry name.
ROW_LABELS = {
    ("baseline", True): ("Baseline", "Baseline"),
    ("pcb", True): ("PCB", "PCB"),
    ("hpnet", False): ("HPNet, test w/o vis", "HPNet, test w/o vis"),
    ("hpnet_share_conv5", True): ("HPNet, share Conv5", "HPNet, share Conv5"),
    ("hpnet_wo_triplet", True): ("HPNet, λtri = 0", r"HPNet, $\lambda_{tri}=0$"),
    ("hpnet_wo_coco", True): ("HPNet, λcocoseg = 0", r"HPNet, $\lambda_{cocoseg}=0$"),
    ("hpnet", True): ("HPNet", "HPNet"),
}
DISTANCES = {
    "paper": "paper eq. (1) (Euclidean on unit part features over commonly visible parts)",
    "official": "official HPNet code (cosine; query-visible plus commonly visible parts)",
}
LATEX_ESCAPES = {c: "\\" + c for c in "&%$#_{}"} | {
    "\\": r"\textbackslash{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}
SYNTHETIC_NOTE = "synthetic data: not comparable to the paper's numbers on real data"


@dataclass(frozen=True)
class TableSpec:
    """What one table selects: shot mode, data sets (None = all present) and metrics."""

    name: str
    title: str
    mode: str
    datasets: tuple[str, ...] | None
    metrics: tuple[str, ...]
    ablation: bool = False


SPECS = {
    "table2": TableSpec(
        "table2",
        "Comparison under the single-gallery-shot setting (paper Table 2)",
        "single",
        ("partial_reid", "partial_ilids_2018"),
        ("rank1", "rank3"),
    ),
    "table3": TableSpec(
        "table3",
        "Comparison under the multi-gallery-shot setting (paper Table 3)",
        "multi",
        ("occluded_reid", "partial_reid", "partial_ilids_2019"),
        ("rank1", "mAP"),
    ),
    "table4": TableSpec(
        "table4",
        "Ablation study on Occluded-REID (paper Table 4)",
        "multi",
        ("occluded_reid",),
        ("mAP", "rank1", "rank5", "rank10"),
        ablation=True,
    ),
    "all_multi": TableSpec(
        "all_multi", "All results, multi-gallery-shot", "multi", None, ("rank1", "mAP")
    ),
    "all_single": TableSpec(
        "all_single", "All results, single-gallery-shot", "single", None, ("rank1", "mAP")
    ),
}
TABLES = {
    "table2": ("table2",),
    "table3": ("table3",),
    "table4": ("table4",),
    "all": ("all_multi", "all_single"),
}


@dataclass(frozen=True)
class RowKey:
    """One table row: a method, evaluated with or without visibility, under one distance."""

    method: str
    vis: bool
    distance: str


@dataclass(frozen=True)
class Column:
    """One table column: a metric on one query set of one data set."""

    dataset: str
    query_set: str
    metric: str


@dataclass(frozen=True)
class Cell:
    """A value in % over seeds: mean, sample std (None with one seed), seed count."""

    mean: float
    std: float | None
    n_seeds: int
    trial_std: float | None


@dataclass(frozen=True)
class Table:
    """A built table: its rows (main, then extra), columns, cells, marks and selected rows."""

    spec: TableSpec
    data: str
    rows: tuple[RowKey, ...]
    extra_rows: tuple[RowKey, ...]
    columns: tuple[Column, ...]
    cells: dict[tuple[RowKey, Column], Cell]
    marks: dict[tuple[RowKey, Column], str]
    frame: pd.DataFrame
    trials: int | None = None  # single-shot trial count from the config, if no "trials" rows

    @property
    def all_rows(self) -> tuple[RowKey, ...]:
        """Main rows, then extra rows."""
        return self.rows + self.extra_rows


def _select(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    df = main_rows(df)
    df = df[(df["trial"] == -1) & (df["mode"] == spec.mode) & df["value"].notna()]
    if spec.datasets is not None:
        df = df[df["dataset"].isin(spec.datasets)]
    return df


def _cells(df: pd.DataFrame, metrics: tuple[str, ...]) -> dict[tuple[RowKey, Column], Cell]:
    keys = ["method", "vis", "distance", "dataset", "query_set", "metric"]
    per_seed = df.groupby(keys + ["seed"], sort=False, dropna=False)["value"].mean().reset_index()
    spread = per_seed[per_seed["metric"].str.endswith("_std")]  # single-shot spread over trials
    spread = spread.assign(metric=spread["metric"].str.removesuffix("_std"))
    trial_std = spread.groupby(keys, dropna=False)["value"].mean().to_dict()
    cells = {}
    for key, group in per_seed[per_seed["metric"].isin(metrics)].groupby(keys, dropna=False):
        method, vis, distance, dataset, query_set, metric = key
        values = group["value"] * 100.0  # fractions -> %
        cells[RowKey(method, bool(vis), distance), Column(dataset, query_set, metric)] = Cell(
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else None,
            n_seeds=len(values),
            trial_std=float(trial_std[key] * 100.0) if key in trial_std else None,
        )
    return cells


def row_rank(row: RowKey, ablation: bool = False) -> tuple:
    """Sort key of a row: Baseline, PCB, others, then the HPNet family in the paper's order."""
    pair, dist = (row.method, row.vis), (row.distance != "paper", row.distance)
    if pair in ABLATION_ROWS:  # the HPNet family keeps the paper's order, ours last
        family = ABLATION_ROWS.index(pair)
        return (0 if ablation or row.method == "baseline" else 3, family, *dist)
    return (
        1 if ablation else 2 - (row.method == "pcb"),
        row.method != "pcb",
        row.method,
        not row.vis,
        *dist,
    )


def _marks(cells: dict, rows: tuple[RowKey, ...], columns: tuple[Column, ...]) -> dict:
    marks = {}
    for col in columns:
        shown = {r: round(cells[r, col].mean, 1) for r in rows if (r, col) in cells}
        ranked = sorted(set(shown.values()), reverse=True)
        if len(shown) < 2:
            continue  # a lone value is not "best" of anything
        for r, value in shown.items():
            if value == ranked[0]:
                marks[r, col] = "best"
            elif value == ranked[1]:
                marks[r, col] = "second"
    return marks


def _columns(cells: dict, spec: TableSpec, datasets: set[str]) -> tuple[Column, ...]:
    order = list(spec.datasets or DATASET_NAMES) + sorted(datasets - set(DATASET_NAMES))
    present = {col for _, col in cells}
    return tuple(
        Column(d, q, m)
        for d in order
        for q in sorted({c.query_set for c in present if c.dataset == d})
        for m in spec.metrics
        if Column(d, q, m) in present
    )


def build(df: pd.DataFrame, spec: TableSpec, trials: int | None = None) -> list[Table]:
    """Build ``spec``'s table once for each kind of data present (real first, then synthetic).

    Args:
        df: result rows.
        spec: what the table selects.
        trials: single-shot trial count for the caption when the rows hold no "trials" metric.
    """
    tables = []
    selected = _select(df, spec)
    for data in sorted(selected["data"].unique(), key=lambda d: (d != "real", d)):
        part = selected[selected["data"] == data]
        cells = _cells(part, spec.metrics)
        if not cells:
            continue
        columns = _columns(cells, spec, set(part["dataset"]))
        ordered = sorted({row for row, _ in cells}, key=lambda r: row_rank(r, spec.ablation))
        main = tuple(r for r in ordered if not spec.ablation or (r.method, r.vis) in ABLATION_ROWS)
        extra = tuple(r for r in ordered if r not in main)
        marks = _marks(cells, main + extra, columns)
        tables.append(Table(spec, data, main, extra, columns, cells, marks, part, trials))
    return tables


def escape_latex(text: str) -> str:
    """Escape LaTeX special characters in plain text (``±`` becomes ``$\\pm$``)."""
    return "".join(LATEX_ESCAPES.get(char, char) for char in text)


def _label(table: Table, row: RowKey, latex: bool) -> str:
    known = ROW_LABELS.get((row.method, row.vis))
    if known is not None:
        label = known[latex]
    else:
        name = escape_latex(row.method) if latex else row.method
        label = name if row.vis else f"{name}, test w/o vis"
    if len({r.distance for r in table.all_rows}) > 1:
        label += f" ({escape_latex(row.distance) if latex else row.distance} distance)"
    return label


def _group_label(table: Table, dataset: str, query_set: str) -> str:
    name = DATASET_NAMES.get(dataset, dataset)
    if len({c.query_set for c in table.columns if c.dataset == dataset}) > 1:
        name += f" ({query_set})"
    return name


def _cell_text(table: Table, row: RowKey, col: Column, latex: bool) -> str:
    cell = table.cells.get((row, col))
    if cell is None:
        return "--" if latex else "-"
    text = f"{cell.mean:.1f}" + ("" if cell.std is None else f" ± {cell.std:.1f}")
    text = escape_latex(text) if latex else text
    wrap = {"best": ("\\textbf{", "}", "**", "**"), "second": ("\\underline{", "}", "_", "_")}
    mark = wrap.get(table.marks.get((row, col)), ("", "", "", ""))
    return f"{mark[0]}{text}{mark[1]}" if latex else f"{mark[2]}{text}{mark[3]}"


def _protocol(table: Table) -> list[str]:
    spec, df = table.spec, table.frame
    shot = "Multi-gallery-shot (whole gallery)"
    if spec.mode == "single":
        trials = sorted({int(v) for v in df.loc[df["metric"] == "trials", "value"]})
        trials = trials or ([table.trials] if table.trials else [])
        count = "/".join(map(str, trials)) if trials else "an unrecorded number of"
        shot = f"Single-gallery-shot, CMC averaged over {count} seeded trials"
    metrics = "/".join(METRIC_NAMES.get(m, m) for m in spec.metrics)
    datasets = dict.fromkeys(c.dataset for c in table.columns)
    queries = "; ".join(
        f"{DATASET_NAMES.get(d, d)}: "
        + ", ".join(sorted({c.query_set for c in table.columns if c.dataset == d}))
        for d in datasets
    )
    distances = sorted({r.distance for r in table.all_rows})
    data = f"synthetic ({SYNTHETIC_NOTE})" if table.data == "synthetic" else table.data
    return [
        f"{spec.title}. {shot}; {metrics} in %.",
        f"Query folder: {queries}.",
        f"Distance: {'; '.join(DISTANCES.get(d, d) for d in distances)}.",
        f"Data: {data}.",
    ]


def _caption(table: Table, latex: bool) -> str:
    """The caption as plain text (LaTeX-escaped when ``latex``), stating the protocol."""
    df, seeds = table.frame, sorted({c.n_seeds for c in table.cells.values()})
    counts = "-".join(str(s) for s in dict.fromkeys((seeds[0], seeds[-1])))
    spread = "one seed" if seeds[-1] == 1 else f"mean ± sample std over {counts} seeds"
    parts = _protocol(table) + [f"Cells: {spread}."]
    if table.spec.mode == "single":
        parts.append(
            "The ± is the spread over seeds, not over single-shot trials "
            "(the trial std is in tables.csv)."
        )
    skipped = df[df["metric"] == "skipped"].groupby("dataset")["value"].max()
    if (skipped > 0).any():
        counts = ", ".join(f"{DATASET_NAMES.get(d, d)} {int(n)}" for d, n in skipped.items() if n)
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
    metrics = " & ".join(METRIC_NAMES.get(c.metric, c.metric) for c in table.columns)
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


def _render_tables(tables: list[Table], fmt: str) -> str:
    if fmt == "csv":
        buffer = io.StringIO()
        pd.concat([_csv_frame(t) for t in tables], ignore_index=True).to_csv(buffer, index=False)
        return buffer.getvalue()
    render_one = _latex if fmt == "latex" else _markdown
    return "\n".join(render_one(t) for t in tables)


def _check_fmt(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnknownNameError(f"unknown table format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def render(df: pd.DataFrame, table: str, fmt: str, trials: int | None = None) -> str:
    """Render one table of the paper from tidy result rows.

    Args:
        df: result rows (see ``benchmark.reporting.rows.ROW_COLUMNS``).
        table: "table2", "table3", "table4" or "all".
        fmt: "md", "latex" or "csv".
        trials: single-shot trial count (from the run config) for captions when the rows hold
            no "trials" metric.

    Returns:
        The table (one per kind of data present) as text.
    """
    if table not in TABLES:
        raise UnknownNameError(f"unknown table {table!r}; valid tables: {', '.join(TABLES)}")
    _check_fmt(fmt)
    built = [t for name in TABLES[table] for t in build(df, SPECS[name], trials)]
    if not built:
        spec = SPECS[TABLES[table][0]]
        where = ", ".join(spec.datasets) if spec.datasets else "any data set"
        raise UserError(
            f"no {spec.mode}-gallery-shot results on {where} for {table}; "
            "evaluate those data sets first or pick another table"
        )
    return _render_tables(built, fmt)


def render_all(df: pd.DataFrame, fmt: str, trials: int | None = None) -> str:
    """Render every table the data supports, in the paper's order, then "all" (see ``render``)."""
    _check_fmt(fmt)
    built = [
        t for names in TABLES.values() for name in names for t in build(df, SPECS[name], trials)
    ]
    if not built:
        raise UserError("no results to tabulate; run an evaluation first")
    return _render_tables(built, fmt)


def write_tables(df: pd.DataFrame, out_dir: Path, trials: int | None = None) -> list[Path]:
    """Write tables.md, tables.tex (needs booktabs) and tables.csv atomically into ``out_dir``."""
    out_dir = Path(out_dir)
    names = {"md": "tables.md", "latex": "tables.tex", "csv": "tables.csv"}
    texts = {fmt: render_all(df, fmt, trials) for fmt in FORMATS}  # all built before any write
    return [write_text_atomic(text, out_dir / names[fmt]) for fmt, text in texts.items()]
