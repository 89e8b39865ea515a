"""Score pseudo part labels against the synthetic ground truth: per-part IoU, mIoU, visibility."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import write_csv_atomic, write_text_atomic
from benchmark.errors import DataError, UserError
from benchmark.human_parsing.label import PROVENANCE
from benchmark.loading.labels import NUM_CLASSES, confusion_matrix, read_label_map
from reid_datasets.layout import find_dir
from reid_datasets.market1501 import LAYOUT, SPLIT_FOLDERS, find_label_dir
from reid_datasets.parts import PART7_NAMES


@dataclass(frozen=True)
class PairCounts:
    """Statistics of a label tree pair, accumulated over images.

    Attributes:
        confusion: [8, 8] pixel counts, rows ground truth, columns pseudo label.
        gt_present, ps_present: [I, 8] whether each image shows each class.
    """

    confusion: np.ndarray
    gt_present: np.ndarray
    ps_present: np.ndarray


def label_pairs(root: Path) -> tuple[list[tuple[Path, Path]], Path, Path]:
    """(gt, ps) PNG pairs of every ground-truth label, and the two trees."""

    market = LAYOUT.locate(root)
    gt_tree = find_label_dir(market, "gt")
    if gt_tree is None:
        raise UserError(
            f"no ground-truth tree {market.name}_gt_label beside {market}: parse eval needs the "
            "synthetic ground truth (python -m benchmark synth --root DIR); real data has none"
        )
    ps_tree = find_label_dir(market, "ps")
    if ps_tree is None:
        raise UserError(
            f"no pseudo-label tree {market.name}_ps_label beside {market}; "
            "run 'python -m benchmark parse label --root DIR' first"
        )
    pairs: list[tuple[Path, Path]] = []
    missing: list[tuple[Path, Path | None]] = []
    for folder in SPLIT_FOLDERS.values():
        gt_dir, ps_dir = find_dir(gt_tree, folder), find_dir(ps_tree, folder)
        for gt in sorted(gt_dir.glob("*.png")) if gt_dir is not None else ():
            ps = ps_dir / gt.name if ps_dir is not None else None
            if ps is not None and ps.is_file():
                pairs.append((gt, ps))
            else:
                missing.append((gt, ps))
    if missing:
        raise UserError(
            f"{len(missing)} of {len(pairs) + len(missing)} images have no pseudo label "
            f"(first: {missing[0][0].name}); run 'python -m benchmark parse label'"
        )
    if not pairs:
        raise DataError(f"the ground-truth tree {gt_tree} holds no label PNGs; regenerate it")
    return pairs, gt_tree, ps_tree


def count_pairs(pairs: list[tuple[Path, Path]]) -> PairCounts:
    """Accumulate the confusion matrix and per-image presence over all pairs."""
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    gt_present = np.zeros((len(pairs), NUM_CLASSES), dtype=bool)
    ps_present = np.zeros_like(gt_present)
    for i, (gt_path, ps_path) in enumerate(pairs):
        gt, ps = read_label_map(gt_path), read_label_map(ps_path)
        if gt.shape != ps.shape:
            raise DataError(
                f"pseudo label {ps_path} is {ps.shape[1]}x{ps.shape[0]} but the truth is "
                f"{gt.shape[1]}x{gt.shape[0]}; relabel with parse label --overwrite"
            )
        conf += confusion_matrix(gt, ps)
        gt_present[i] = np.bincount(gt.ravel(), minlength=NUM_CLASSES) > 0
        ps_present[i] = np.bincount(ps.ravel(), minlength=NUM_CLASSES) > 0
    return PairCounts(conf, gt_present, ps_present)


def score_counts(counts: PairCounts) -> pd.DataFrame:
    """One row per part (head..foot) and a ``mean`` row, metrics as fractions in [0, 1].

    IoU sums intersection and union over all images before dividing; mIoU is the mean over
    the 7 parts; visibility accuracy is the fraction of images where "part present in the
    pseudo label" equals "part present in the truth".
    """
    conf = counts.confusion
    tp = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - tp
    iou = np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)
    vis_acc = (counts.gt_present == counts.ps_present).mean(0)
    rows = [
        {
            "part": PART7_NAMES[c],
            "iou": iou[c],
            "visibility_acc": vis_acc[c],
            "gt_visible": counts.gt_present[:, c].mean(),
            "ps_visible": counts.ps_present[:, c].mean(),
        }
        for c in range(1, NUM_CLASSES)
    ]
    df = pd.DataFrame(rows)
    mean = {"part": "mean", **df.drop(columns="part").mean(skipna=True).to_dict()}
    return pd.concat([df, pd.DataFrame([mean])], ignore_index=True)


def to_markdown(scores: pd.DataFrame, images: int, source: str) -> str:
    """The scores as a Markdown table in percent, with a line naming what was compared."""
    names = {
        "part": "Part",
        "iou": "IoU (%)",
        "visibility_acc": "Visibility acc. (%)",
        "gt_visible": "Visible in GT (%)",
        "ps_visible": "Visible in PS (%)",
    }
    shown = scores.rename(columns=names)
    for col in list(names.values())[1:]:
        shown[col] = (100 * shown[col]).round(1)
    shown.loc[shown["Part"] == "mean", "Part"] = "**mean (mIoU)**"
    return (
        f"Pseudo part labels vs synthetic ground truth ({images} images; {source})\n\n"
        + shown.to_markdown(index=False, floatfmt=".1f")
        + "\n"
    )


def evaluate_labels(root: Path, out: Path) -> tuple[pd.DataFrame, str]:
    """Score ``ROOT/..._ps_label`` against ``..._gt_label``; write parsing_eval.csv/.md in ``out``.

    Returns:
        (scores, Markdown table).

    Raises:
        UserError: no ground-truth tree (real data), no pseudo labels, or a label is missing.
    """
    pairs, _, ps_tree = label_pairs(Path(root))
    scores = score_counts(count_pairs(pairs))
    source = f"root {root}" + _checkpoint_note(ps_tree)
    markdown = to_markdown(scores, len(pairs), source)
    write_csv_atomic(scores.assign(images=len(pairs)), out / "parsing_eval.csv")
    write_text_atomic(markdown, out / "parsing_eval.md")
    return scores, markdown


def recorded_checkpoint(ps_tree: Path) -> Path | None:
    """The checkpoint ``parse label`` recorded in the ps tree, if any."""

    try:
        return Path(json.loads((ps_tree / PROVENANCE).read_text())["checkpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _checkpoint_note(ps_tree: Path) -> str:
    ckpt = recorded_checkpoint(ps_tree)
    return f", labels from {ckpt}" if ckpt is not None else ""
