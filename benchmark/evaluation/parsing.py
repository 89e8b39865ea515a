"""Parsing quality: a method's own part masks and visibility scored against the synthetic truth.

Two resolutions, both with HPNet's binarisation G > 0.5 (paper section 3, G-hat = 1{G > T}):

- grid: the Conv5 masks against the ground truth resized to the Conv5 grid by the project's own
  ``part_targets`` (area coverage), exactly as training builds its parsing targets; the truth is
  first resized to the input size (nearest), as the training loader does;
- image: the probabilities upsampled bilinearly to the label's own (full) resolution, then
  thresholded at 0.5, against the full-resolution 4-part label.

IoU is aggregated at the data-set level: per part, the intersections and the unions are each
summed over all images and then divided (an image without the part in either the truth or the
prediction adds nothing); mIoU is the mean of the per-part IoUs over the parts with a non-empty
union. Visibility is the method's ``Output.visibility`` against the part's presence in the
training targets (any positive grid cell of ``part_targets``); accuracy, precision and recall
are counted over images, per part. Undefined ratios (0 / 0) are NaN.

Real data has no ground truth, so nothing here runs on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from benchmark.atomic import atomic_path
from benchmark.errors import DataError
from benchmark.evaluation.parsing_truth import full_label, with_truth
from benchmark.loading.data import ReIDImages, collate
from reid_datasets.base import Sample
from reid_datasets.parts import PART4_NAMES
from reid_methods.losses import part_targets

PART_NAMES = PART4_NAMES[1:]  # head, torso_arms, upper_legs, lower_legs_feet
THRESHOLD = 0.5  # G-hat = 1{G > 0.5}, as HPNet's masked pooling


@dataclass(frozen=True)
class PartCounts:
    """Per-part counts summed over images (each array [P], int64).

    Attributes:
        inter_grid, union_grid: mask intersection and union on the Conv5 grid, in cells.
        inter_image, union_image: the same at the label's resolution, in pixels.
        tp, fp, fn, tn: visibility predicted (positive) vs the part present in the targets.
    """

    inter_grid: np.ndarray
    union_grid: np.ndarray
    inter_image: np.ndarray
    union_image: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    def __add__(self, other: PartCounts) -> PartCounts:
        return PartCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        return (
            self.inter_grid,
            self.union_grid,
            self.inter_image,
            self.union_image,
            self.tp,
            self.fp,
            self.fn,
            self.tn,
        )


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise as floats; NaN where den is 0 (an undefined ratio)."""
    num, den = num.astype(float), den.astype(float)
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)


def mean_defined(values: np.ndarray) -> float:
    """The mean over the non-NaN entries; NaN when none is defined."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def part_names(parts: int) -> tuple[str, ...]:
    """HPNet's part names for 4 parts, else ``part1``..``partP`` (a plug-in's own split)."""
    return PART_NAMES if parts == len(PART_NAMES) else tuple(f"part{j + 1}" for j in range(parts))


def part_metrics(counts: PartCounts) -> dict[str, float]:
    """Metric name -> fraction: mIoUs, mean visibility scores and every per-part value.

    ``vis_acc``, ``vis_precision`` and ``vis_recall`` are means over the parts where defined.
    """
    names = part_names(len(counts.tp))
    iou_grid = ratio(counts.inter_grid, counts.union_grid)
    iou_image = ratio(counts.inter_image, counts.union_image)
    vis_acc = ratio(counts.tp + counts.tn, counts.tp + counts.fp + counts.fn + counts.tn)
    precision = ratio(counts.tp, counts.tp + counts.fp)
    recall = ratio(counts.tp, counts.tp + counts.fn)
    out = {"miou_grid": mean_defined(iou_grid), "miou_image": mean_defined(iou_image)}
    per_part = {
        "iou_grid": iou_grid,
        "iou_image": iou_image,
        "vis_acc": vis_acc,
        "vis_precision": precision,
        "vis_recall": recall,
    }
    for prefix, values in per_part.items():
        if prefix.startswith("vis"):
            out[prefix] = mean_defined(values)  # mean over parts
        out |= {f"{prefix}_{name}": float(v) for name, v in zip(names, values, strict=True)}
    return out


def count_grid(probs: Tensor, visibility: Tensor, labels: Tensor) -> tuple[np.ndarray, ...]:
    """Grid IoU terms and visibility confusion of one batch.

    Args:
        probs: [N, P, h, w] parsing probabilities G.
        visibility: [N, P] predicted visibility in {0, 1}.
        labels: [N, H, W] 4-part codes at the input size (0 background).

    Returns:
        inter, union, tp, fp, fn, tn, each [P] int64.
    """
    targets, present = part_targets(labels, probs.shape[1], (probs.shape[-2], probs.shape[-1]))
    pred, truth = probs > THRESHOLD, targets.bool()  # [N, P, h, w]
    inter = (pred & truth).sum((0, 2, 3))
    union = (pred | truth).sum((0, 2, 3))
    vis, gt = visibility > 0.5, present.bool()  # [N, P]
    conf = [(vis & gt), (vis & ~gt), (~vis & gt), (~vis & ~gt)]
    return tuple(t.numpy().astype(np.int64) for t in [inter, union, *(c.sum(0) for c in conf)])


def count_image(probs: Tensor, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image-size IoU terms of one image: [P, h, w] probabilities vs a [H, W] 4-part label."""
    size = label.shape
    up = F.interpolate(probs[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    pred = up > THRESHOLD  # [P, H, W]
    parts = torch.arange(1, probs.shape[0] + 1).view(-1, 1, 1)
    truth = torch.from_numpy(label.astype(np.int64))[None] == parts  # [P, H, W]
    inter = (pred & truth).sum((1, 2)).numpy().astype(np.int64)
    union = (pred | truth).sum((1, 2)).numpy().astype(np.int64)
    return inter, union


def count_batch(
    probs: Tensor, visibility: Tensor, labels: Tensor, full_labels: Sequence[np.ndarray]
) -> PartCounts:
    """Every count of one batch (grid, image size, visibility); see the module docstring."""
    inter_g, union_g, tp, fp, fn, tn = count_grid(probs, visibility, labels)
    inter_i = np.zeros_like(inter_g)
    union_i = np.zeros_like(union_g)
    for p, label in zip(probs, full_labels, strict=True):
        i, u = count_image(p, label)
        inter_i, union_i = inter_i + i, union_i + u
    return PartCounts(inter_g, union_g, inter_i, union_i, tp, fp, fn, tn)


@dataclass(frozen=True)
class ParsingResult:
    """Counts over one image set, and what ``save_predictions`` stores of it."""

    counts: PartCounts
    probs: np.ndarray  # [N, P, h, w] float32 G
    visibility: np.ndarray  # [N, P] uint8
    paths: tuple[str, ...]
    label_paths: tuple[str, ...]


@torch.no_grad()
def score_parsing(
    model, samples: Sequence[Sample], size: tuple[int, int], device, batch_size: int = 64
) -> ParsingResult | None:
    """Score the model's own masks and visibility on ``samples``.

    Args:
        model: a method; one whose ``Output.masks`` is None (no parsing) gives None.
        samples: images whose ``label_path`` is their ground truth (see ``with_truth``).
        size: (H, W) input size.
        device: where the model runs.
        batch_size: images per forward pass.
    """

    model.eval()
    images = ReIDImages(samples, size, with_parts=True)
    loader = DataLoader(images, batch_size=batch_size, collate_fn=collate)
    counts: PartCounts | None = None
    probs, vis = [], []
    for item in loader:
        out = model(item["images"].to(device))
        if out.masks is None:
            return None
        g = out.masks.float().cpu()  # [n, M, h, w]
        v = out.visibility[:, -g.shape[1] :].float().cpu()  # [n, M]: the parts the maps show
        full: list[np.ndarray] = []
        for i in item["index"]:
            path = samples[int(i)].label_path
            assert path is not None, "ReIDImages(with_parts=True) loads only labelled samples"
            full.append(full_label(path))
        batch = count_batch(g, v, item["parts"], full)
        counts = batch if counts is None else counts + batch
        probs.append(g.numpy())
        vis.append(v.numpy().astype(np.uint8))
    if counts is None:
        raise DataError("no images to score the parsing on")
    return ParsingResult(
        counts,
        np.concatenate(probs),
        np.concatenate(vis),
        tuple(str(s.path) for s in samples),
        tuple(str(s.label_path) for s in samples),
    )


def save_predictions(result: ParsingResult, size: tuple[int, int], path: Path) -> Path:
    """Write the predictions as a compressed npz, atomically (format: README "Parsing quality").

    Keys: ``probs`` [N, P, h, w] float32 G, ``visibility`` [N, P] uint8, ``paths`` [N] image
    files, ``label_paths`` [N] ground-truth PNGs, ``input_size`` [2] (H, W) the model saw,
    ``parts`` [P] part names, ``threshold`` the binarisation threshold.
    """
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as f:  # a file object: savez would append ".npz" to a name
            np.savez_compressed(
                f,
                probs=result.probs,
                visibility=result.visibility,
                paths=np.array(result.paths),
                label_paths=np.array(result.label_paths),
                input_size=np.array(size, dtype=np.int64),
                parts=np.array(part_names(result.probs.shape[1])),
                threshold=np.array(THRESHOLD),
            )
    return Path(path)


PARSING_MODE = "parsing"  # the ``mode`` of parsing-quality result rows (distance "-")


def parsing_file(dataset: str) -> str:
    """The npz a method's run folder stores its predictions on ``dataset``'s queries in."""
    return f"parsing_{dataset}.npz"


def evaluate_parsing(
    model,
    samples: Sequence[Sample],
    root: Path,
    size: tuple[int, int],
    device,
    batch_size: int,
    out: Path,
) -> dict[str, float] | None:
    """Score the model's parsing on synthetic ``samples``, store the predictions in ``out``.

    Returns:
        ``part_metrics`` plus ``images`` (the count scored), or None for a method without masks.
        An undefined value (0 / 0: a part neither in the truth nor predicted anywhere in the set)
        is left out, so it gives no result row rather than a made-up number.
    """
    result = score_parsing(model, with_truth(root, samples), size, device, batch_size)
    if result is None:
        return None
    save_predictions(result, size, out)
    metrics = {k: v for k, v in part_metrics(result.counts).items() if not np.isnan(v)}
    return metrics | {"images": float(len(samples))}
