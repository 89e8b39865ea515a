"""Per-epoch validation on held-out training identities: Rank-1, mAP and parsing quality.

The suite reports the last epoch on the test sets and makes no choice on test data; what
training curves show (``train_log.csv``'s ``val_*`` columns, the convergence study) is measured
here, on identities carved out of the training set (``split_validation``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.atomic import write_json_atomic
from benchmark.errors import DataError
from benchmark.evaluation.extract import extract
from benchmark.evaluation.parsing import part_metrics, score_parsing
from benchmark.evaluation.parsing_truth import with_truth
from benchmark.evaluation.protocols import evaluate
from datasets.base import Sample

VALIDATION_JSON = "validation.json"


@dataclass(frozen=True)
class ValidationSplit:
    """Training identities held out as validation, as a query/gallery split.

    Attributes:
        pids: the held-out identities, sorted.
        query: per held-out identity and camera, its first image (in path order).
        gallery: the other images of the held-out identities.
    """

    pids: tuple[int, ...]
    query: tuple[Sample, ...]
    gallery: tuple[Sample, ...]


def split_validation(
    samples: Sequence[Sample], fraction: float, seed: int
) -> tuple[tuple[Sample, ...], ValidationSplit | None]:
    """Hold out ``round(fraction x identities)`` (at least one) training identities, seeded.

    Returns:
        The training samples left and the validation split (None when ``fraction`` is 0).
        A validation query is matched like a Market-1501 query: gallery images of its identity
        taken by the same camera are excluded, so an identity seen by one camera gives none.
    """
    if fraction <= 0:
        return tuple(samples), None
    pids = sorted({s.pid for s in samples})
    count = max(1, round(fraction * len(pids)))
    if count >= len(pids):
        raise DataError(
            f"train.val_ids={fraction} holds out {count} of {len(pids)} training identities, "
            "leaving none to train on; lower train.val_ids"
        )
    rng = np.random.default_rng(seed)
    held = {int(p) for p in rng.choice(pids, count, replace=False)}
    train = tuple(s for s in samples if s.pid not in held)
    seen: set[tuple[int, int]] = set()
    query, gallery = [], []
    for s in sorted((s for s in samples if s.pid in held), key=lambda s: str(s.path)):
        (gallery if (s.pid, s.camid) in seen else query).append(s)
        seen.add((s.pid, s.camid))
    return train, ValidationSplit(tuple(sorted(held)), tuple(query), tuple(gallery))


PROTOCOL = (
    "held-out training identities; per identity and camera its first image (path order) is a "
    "query, the rest the gallery; multi-gallery-shot, same identity and camera excluded"
)


@dataclass(frozen=True)
class Validator:
    """What ``fit`` calls after an epoch: validation metrics of the model, or {} if not due.

    Attributes:
        split: the held-out identities' query and gallery.
        labelled: query + gallery with their ground-truth labels (synthetic data), else ().
        size: (H, W) input size.
        batch_size: images per forward pass.
        distance: the run's test distance (eq. 1 or the official code's).
        every: validate after every ``every``-th epoch, and after the last.
        epochs: the number of training epochs.
        device: where the model runs.
    """

    split: ValidationSplit
    labelled: tuple[Sample, ...]
    size: tuple[int, int]
    batch_size: int
    distance: str
    every: int
    epochs: int
    device: Any

    def due(self, epoch: int) -> bool:
        """Whether to validate after 0-based ``epoch``."""
        return (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs

    def __call__(self, model, epoch: int) -> dict[str, float]:
        if not self.due(epoch):
            return {}
        return validate(model, self)


@torch.no_grad()
def validate(model, v: Validator) -> dict[str, float]:
    """``val_rank1``, ``val_mAP`` and, for a method with masks on synthetic data, the grid mIoU
    of its masks (``val_parsing_miou``) and its mean visibility recall (``val_vis_recall``)."""
    sets = (v.split.query, v.split.gallery)
    bank = [extract(model, s, v.size, v.batch_size, v.device, "validation") for s in sets]
    result = evaluate(bank[0], bank[1], mode="multi", distance=v.distance)
    out = {"val_rank1": result.rank1, "val_mAP": result.mAP}
    if v.labelled:
        scored = score_parsing(model, v.labelled, v.size, v.device, v.batch_size)
        if scored is not None:
            metrics = part_metrics(scored.counts)
            out["val_parsing_miou"] = metrics["miou_grid"]
            out["val_vis_recall"] = metrics["vis_recall"]
    return out


def build_validator(
    split: ValidationSplit,
    truth_root: Path | None,
    size: tuple[int, int],
    batch_size: int,
    distance: str,
    every: int,
    epochs: int,
    device: Any,
) -> Validator:
    """A Validator; ``truth_root`` is the synthetic data root (None: real data, no parsing)."""
    images = split.query + split.gallery
    labelled = tuple(with_truth(truth_root, images)) if truth_root is not None else ()
    return Validator(split, labelled, size, batch_size, distance, every, epochs, device)


def write_validation(split: ValidationSplit | None, fraction: float, seed: int, run_dir: Path):
    """Record the held-out identities in ``run_dir/validation.json`` (ids [] when none)."""
    record = {
        "val_ids": fraction,
        "val_seed": seed,
        "pids": [] if split is None else list(split.pids),
        "query_images": [] if split is None else [str(s.path) for s in split.query],
        "gallery_images": [] if split is None else [str(s.path) for s in split.gallery],
        "protocol": PROTOCOL,
    }
    return write_json_atomic(record, Path(run_dir) / VALIDATION_JSON)
