"""Result rows -> built tables: what each of the paper's tables selects, its cells and marks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from benchmark.reporting.labels import in_paper_table, row_order
from benchmark.store.rows import DEFAULT_TRAIN_SET, main_rows
from reid_datasets.base import dataset_rank


@dataclass(frozen=True)
class TableSpec:
    """What one table selects: shot mode, data sets (None = all present) and metrics."""

    name: str
    title: str
    mode: str
    datasets: tuple[str, ...] | None
    metrics: tuple[str, ...]
    paper_rows: bool = False  # main rows: those registered for this table; the rest below


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
        ("rank1", "mAP", "mINP"),  # mINP: not in the paper; the field reports it beside mAP
    ),
    "table4": TableSpec(
        "table4",
        "Ablation study on Occluded-REID (paper Table 4)",
        "multi",
        ("occluded_reid",),
        ("mAP", "rank1", "rank5", "rank10", "mINP"),
        paper_rows=True,
    ),
    "all_multi": TableSpec(
        "all_multi", "All results, multi-gallery-shot", "multi", None, ("rank1", "mAP", "mINP")
    ),
    "all_single": TableSpec(
        "all_single", "All results, single-gallery-shot", "single", None, ("rank1", "mAP")
    ),
}


# The official HPNet code's trapezoid AP (``ap_zzd``): rows evaluated as the official profile
# evaluates (the official code's distance) show it, under its own name, in place of mAP.
OFFICIAL_DISTANCE = "official"
OFFICIAL_MAP = "mAP_zzd"


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
    train_set: str = DEFAULT_TRAIN_SET  # the training set of every row (tables group by it)

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


def _official_map(df: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, TableSpec]:
    """Rows under the official distance keep mAP_zzd instead of mAP; other rows keep mAP.

    The spec gains an ``mAP_zzd`` column right after ``mAP`` (a column without cells is left
    out later). Results stored before mAP_zzd existed keep their mAP.
    """
    official = df["distance"] == OFFICIAL_DISTANCE
    if "mAP" not in spec.metrics or not (official & (df["metric"] == OFFICIAL_MAP)).any():
        return df, spec
    drop = (official & (df["metric"] == "mAP")) | (~official & (df["metric"] == OFFICIAL_MAP))
    at = spec.metrics.index("mAP") + 1
    metrics = spec.metrics[:at] + (OFFICIAL_MAP,) + spec.metrics[at:]
    return df[~drop], replace(spec, metrics=metrics)


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
    order = list(spec.datasets) if spec.datasets else sorted(datasets, key=dataset_rank)
    present = {col for _, col in cells}
    return tuple(
        Column(d, q, m)
        for d in order
        for q in sorted({c.query_set for c in present if c.dataset == d})
        for m in spec.metrics
        if Column(d, q, m) in present
    )


def build(df: pd.DataFrame, spec: TableSpec, trials: int | None = None) -> list[Table]:
    """Build ``spec``'s table once for each kind of data (real first, then synthetic) and each
    training set present (Market-1501 first, then in table order).

    Args:
        df: result rows.
        spec: what the table selects.
        trials: single-shot trial count for the caption when the rows hold no "trials" metric.
    """
    tables = []
    selected = _select(df, spec)
    trained = selected.get("train_set", pd.Series(index=selected.index, dtype=object))
    selected = selected.assign(train_set=trained.fillna(DEFAULT_TRAIN_SET))
    groups = selected.groupby(["data", "train_set"], sort=False).groups
    order = sorted(groups, key=lambda k: (k[0] != "real", k[0], dataset_rank(k[1])))
    for data, train_set in order:
        part, shown = _official_map(selected.loc[groups[data, train_set]], spec)
        cells = _cells(part, shown.metrics)
        if not cells:
            continue
        columns = _columns(cells, shown, set(part["dataset"]))
        ordered = sorted({row for row, _ in cells}, key=_row_key)
        main = tuple(r for r in ordered if not spec.paper_rows or _in_table(r, spec.name))
        extra = tuple(r for r in ordered if r not in main)
        marks = _marks(cells, main + extra, columns)
        table = Table(shown, data, main, extra, columns, cells, marks, part, trials, train_set)
        tables.append(table)
    return tables


def build_all(df: pd.DataFrame, trials: int | None = None) -> list[Table]:
    """Every table the rows support, in the paper's order, then the "all results" tables."""
    return [table for spec in SPECS.values() for table in build(df, spec, trials)]


def _row_key(row: RowKey) -> tuple:
    return row_order(row.method, row.vis, row.distance)


def _in_table(row: RowKey, table: str) -> bool:
    return in_paper_table(row.method, row.vis, table)
