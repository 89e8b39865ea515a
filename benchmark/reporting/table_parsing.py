"""The parsing-quality tables: each method's own masks and visibility against the synthetic truth.

The paper's Fig. 6 argument in numbers: how well a method's masks match the body parts on
holistic queries, occluded queries and partial crops. A summary table over the test sets, then
one table per test set with the per-part values. Only synthetic data has rows: real data has no
ground-truth part labels, so the evaluation writes no parsing rows for it.
"""

from __future__ import annotations

import pandas as pd

from benchmark.evaluation.parsing import PARSING_MODE, PART_NAMES
from benchmark.reporting.labels import dataset_label
from benchmark.reporting.table_build import Table, TableSpec, build
from reid_datasets.base import dataset_rank

PART_LABELS = {
    "head": "head",
    "torso_arms": "torso+arms",
    "upper_legs": "upper legs",
    "lower_legs_feet": "lower legs",
}
METRIC_NAMES = {
    "miou_grid": "mIoU grid",
    "miou_image": "mIoU image",
    "vis_acc": "vis acc",
    "vis_precision": "vis prec",
    "vis_recall": "vis rec",
} | {
    f"{prefix}_{part}": f"{short} {label}"
    for part, label in PART_LABELS.items()
    for prefix, short in (("iou_grid", "IoU"), ("vis_recall", "vis rec"))
}
SUMMARY = TableSpec(
    "parsing",
    "Parsing quality of each method's own masks (paper Fig. 6 in numbers)",
    PARSING_MODE,
    None,
    ("miou_grid", "miou_image", "vis_acc", "vis_recall"),
)
PART_METRICS = tuple(f"iou_grid_{p}" for p in PART_NAMES) + tuple(
    f"vis_recall_{p}" for p in PART_NAMES
)


def part_spec(dataset: str) -> TableSpec:
    """The per-part table of one test set."""
    title = f"Parsing quality per part on {dataset_label(dataset)} queries"
    return TableSpec(f"parsing_{dataset}", title, PARSING_MODE, (dataset,), PART_METRICS)


def build_parsing(df: pd.DataFrame) -> list[Table]:
    """The summary table, then one per-part table per test set with parsing rows."""
    rows = df[df["mode"] == PARSING_MODE]
    datasets = sorted(set(rows["dataset"]), key=dataset_rank)
    return [t for spec in [SUMMARY, *map(part_spec, datasets)] for t in build(rows, spec)]


def parsing_protocol(table: Table) -> list[str]:
    """The caption lines of a parsing-quality table."""
    images = table.frame[table.frame["metric"] == "images"].groupby("dataset")["value"].max()
    counts = ", ".join(f"{dataset_label(d)} {int(n)}" for d, n in images.items())
    return [
        f"{table.spec.title}; values in %.",
        "Masks G > 0.5 against the ground-truth part labels of the test queries"
        + (f" (images: {counts})" if counts else "")
        + ": grid = the Conv5 map vs the labels resized by area coverage as in training; "
        "image = masks upsampled bilinearly to the label's resolution.",
        "IoU per part = summed intersections / summed unions over all images; mIoU = mean "
        "over parts; visibility (vis) = the method's predicted part visibility vs the part's "
        "presence in the training targets (accuracy, recall; means over parts).",
        "Synthetic data only: real data has no ground-truth part labels, so no parsing rows "
        "exist for it.",
    ]
