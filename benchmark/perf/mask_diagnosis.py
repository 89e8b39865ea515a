"""Why a trained method's masks score what they do; run on request on a finished run folder.

    python -m benchmark.perf.mask_diagnosis RUN_DIR [--method hpnet] [--seed 0] [--out CSV]

Scores three sets of masks on every test set of the run that has synthetic ground truth, with
the parsing-quality code of ``benchmark.evaluation.parsing`` (grid and image IoU, visibility):

- ``prior``: one fixed mask, no image seen: each Conv5 cell is positive for a part where more
  than half of the run's training labels (resized as training resizes them) have it there. What
  a model that only learnt where parts usually are would score.
- ``model``: the method's masks as evaluation computes them (BatchNorm running statistics).
- ``model, batch BN``: the same weights with every BatchNorm normalising by the statistics of
  the batch it sees (64 test images of one set), to tell whether running statistics that mix
  ReID and COCO batches hurt the masks.
- ``model, G > t``: the model's own probabilities binarised at other thresholds than the paper's
  T = 0.5 (grid mIoU and cell precision / recall only; the method always uses 0.5). If mIoU
  peaks below 0.5 with high precision at 0.5, the masks are in the right place but
  conservative (eq. (8)'s alpha = 0.25 weighs a positive cell a third of a negative one), not
  misplaced. A diagnosis, never a setting: no threshold is chosen on test data.

The same masks are also scored on the run's own training images (``--train-images N``, the
first N of each kind in file order), split into whole boxes and boxes cut at the knees or the
waist (the framing of ``SynthConfig.frame_cut_p``: the body reaches the bottom row and no foot
is labelled). If the masks are good on cut training boxes and poor on the stretched partial
crops, the parsing fits what it saw and does not carry it to the test framing; if they are poor
on both, it does not even fit the cut boxes.

Writes a tidy CSV (dataset, masks, metric, value) and prints mIoU, cell precision and recall
and visibility recall.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from benchmark.atomic import write_csv_atomic
from benchmark.config import loader_options
from benchmark.errors import DataError, UserError
from benchmark.evaluation.parsing import (
    count_batch,
    mean_defined,
    part_metrics,
    ratio,
    score_parsing,
)
from benchmark.evaluation.parsing_truth import full_label, sets_with_truth, with_truth
from benchmark.export.onnx_export import load_trained
from benchmark.loading.data import ReIDImages
from benchmark.loading.labels import read_label_map
from benchmark.loading.roots import data_root, load_test_set
from reid_datasets.base import Sample, load_dataset
from reid_methods.losses import part_targets

THRESHOLDS = (0.3, 0.4, 0.5)  # the sweep of ``model, G > t``; 0.5 is the paper's T


def _labels(samples: list[Sample], size: tuple[int, int], batch: int = 256):
    """Batches of (4-part labels [n, H, W] at the input size, full-size labels), as training reads
    them (``ReIDImages``)."""

    images = ReIDImages(samples, size, with_parts=True)
    for b0 in range(0, len(samples), batch):
        idx = range(b0, min(len(samples), b0 + batch))
        parts = torch.stack([images[i][2] for i in idx])
        full: list[np.ndarray] = []
        for i in idx:
            path = samples[i].label_path
            assert path is not None, "ReIDImages(with_parts=True) loads only labelled samples"
            full.append(full_label(path))
        yield parts, full


def prior_mask(train: list[Sample], size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """[P, h, w] {0, 1}: cells where more than half of the training targets have the part."""
    total, count = None, 0
    for parts, _ in _labels(train, size):
        targets, _ = part_targets(parts, 4, grid)  # [n, P, h, w], as the parsing loss sees them
        total = targets.sum(0) if total is None else total + targets.sum(0)
        count += len(parts)
    assert total is not None, "no training image"
    return (total / count > 0.5).float()


def score_prior(prior: torch.Tensor, samples: list[Sample], size: tuple[int, int]) -> dict:
    """``part_metrics`` of the fixed ``prior`` mask on every image of ``samples``."""
    counts = None
    visible = prior.amax(dim=(1, 2))  # [P]: the prior calls a part visible if it has a cell
    for parts, full in _labels(samples, size):
        n = len(parts)
        batch = count_batch(prior.expand(n, *prior.shape), visible.expand(n, -1), parts, full)
        counts = batch if counts is None else counts + batch
    assert counts is not None, "no image to score"
    return part_metrics(counts)


def grid_targets(samples: list[Sample], size: tuple[int, int], grid: tuple[int, int]) -> Tensor:
    """[N, 4, h, w] bool: the truth on the Conv5 grid, as training and scoring build it."""
    batches = [part_targets(parts, 4, grid)[0] for parts, _ in _labels(samples, size)]
    return torch.cat(batches).bool()


def threshold_sweep(
    probs: Tensor, truth: Tensor, thresholds: tuple[float, ...] = THRESHOLDS
) -> dict[str, dict[str, float]]:
    """Grid mIoU, cell precision and cell recall of ``probs > t`` for each ``t``.

    Counts are summed over images per part, then divided and averaged over the parts where
    defined, as ``part_metrics`` does for the IoU.

    Args:
        probs: [N, P, h, w] parsing probabilities G.
        truth: [N, P, h, w] bool grid targets (``grid_targets``).
        thresholds: the binarisation thresholds t.

    Returns:
        ``"model, G > t"`` -> {"miou_grid", "cell_precision", "cell_recall"}.
    """
    out = {}
    for t in thresholds:
        pred = probs > t
        inter, union = (pred & truth).sum((0, 2, 3)), (pred | truth).sum((0, 2, 3))
        npred, ntrue = pred.sum((0, 2, 3)), truth.sum((0, 2, 3))  # [P] each
        out[f"model, G > {t:g}"] = {
            "miou_grid": mean_defined(ratio(inter.numpy(), union.numpy())),
            "cell_precision": mean_defined(ratio(inter.numpy(), npred.numpy())),
            "cell_recall": mean_defined(ratio(inter.numpy(), ntrue.numpy())),
        }
    return out


def with_batch_statistics(model: nn.Module) -> nn.Module:
    """A copy whose BatchNorm layers normalise by each batch's own statistics, also in eval mode
    (a BatchNorm without running statistics uses the batch's)."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean, m.running_var = None, None
    return model


FOOT = 7  # the 7-part code of the feet


def is_cut_box(label: np.ndarray) -> bool:
    """A box cut at the knees or the waist: the body reaches the bottom row, no foot shows."""
    return bool(label[-1].any()) and not bool((label == FOOT).any())


def training_kinds(train: list[Sample], limit: int) -> dict[str, list[Sample]]:
    """Up to ``limit`` training images of each kind, whole boxes and cut boxes, in file order."""
    kinds: dict[str, list[Sample]] = {"train (whole boxes)": [], "train (cut boxes)": []}
    for sample in train:
        assert sample.label_path is not None, "training samples loaded with labels"
        kind = "train (cut boxes)" if is_cut_box(read_label_map(sample.label_path)) else None
        group = kinds[kind or "train (whole boxes)"]
        if len(group) < limit:
            group.append(sample)
        if all(len(g) >= limit for g in kinds.values()):
            break
    return kinds


def diagnose(run_dir: Path, method: str, seed: int | None, train_images: int = 0) -> pd.DataFrame:
    """Tidy rows (dataset, masks, metric, value) for every test set with ground truth."""

    trained = load_trained(run_dir, method, seed)
    cfg, model = trained.cfg, trained.model
    root, kind = data_root(cfg.data.root, cfg.data.synth_profile, cfg.data.synth_overrides())
    size = (cfg.data.height, cfg.data.width)
    queries = {
        name: load_test_set(name, root, loader_options(cfg, name)).query
        for name in cfg.eval.datasets
    }
    scored = sets_with_truth(root, queries, kind == "synthetic")
    if not scored:
        raise DataError(f"{run_dir}: no test set with synthetic ground truth (real data)")
    train = list(load_dataset("market1501", root, labels="gt").train)
    with torch.no_grad():
        masks = model(torch.zeros(1, 3, *size)).masks
    if masks is None:
        raise DataError(f"method {method} predicts no part masks; pick one that does")
    grid = tuple(masks.shape[-2:])
    prior = prior_mask(train, size, grid)
    device = torch.device("cpu")
    sets = {name: with_truth(root, queries[name]) for name in scored}
    if train_images > 0:
        sets |= training_kinds(train, train_images)
    rows = []
    for name, samples in sets.items():
        found = {"prior": score_prior(prior, samples, size)}
        for label, net in (("model", model), ("model, batch BN", with_batch_statistics(model))):
            result = score_parsing(net, samples, size, device)
            assert result is not None, "a method with masks in forward scores them"
            found[label] = part_metrics(result.counts)
            if label == "model":
                probs = torch.from_numpy(result.probs)
                found |= threshold_sweep(probs, grid_targets(samples, size, grid))
        for masks, metrics in found.items():
            rows += [(name, masks, k, v) for k, v in metrics.items() if not np.isnan(v)]
    return pd.DataFrame(rows, columns=["dataset", "masks", "metric", "value"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a finished run folder (made by 'run')")
    p.add_argument("--method", default="hpnet", help="a method of the run that predicts masks")
    p.add_argument("--seed", type=int, help="which seed's job (default: the lowest)")
    p.add_argument("--out", type=Path, help="CSV to write (default RUN_DIR/mask_diagnosis.csv)")
    p.add_argument(
        "--train-images",
        type=int,
        default=0,
        metavar="N",
        help="also score N training images of each kind, whole and cut boxes (default: 0)",
    )
    args = p.parse_args(argv)
    try:
        frame = diagnose(args.run_dir, args.method, args.seed, args.train_images)
    except UserError as e:  # a bad folder, method or checkpoint: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = write_csv_atomic(frame, args.out or args.run_dir / "mask_diagnosis.csv")
    shown = frame[frame.metric.isin(["miou_grid", "cell_precision", "cell_recall", "vis_recall"])]
    table = shown.pivot_table(index=["dataset", "masks"], columns="metric", values="value")
    print((100 * table).round(1).to_markdown())
    print(f"rows: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
