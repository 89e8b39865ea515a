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
from benchmark.loading.data import ReIDImages
from reid_datasets.base import Sample
from reid_datasets.synthetic.occluders import draw_occluder, occlusion_fraction

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
    query: list[Sample] = []
    gallery: list[Sample] = []
    for s in sorted((s for s in samples if s.pid in held), key=lambda s: str(s.path)):
        (gallery if (s.pid, s.camid) in seen else query).append(s)
        seen.add((s.pid, s.camid))
    return train, ValidationSplit(tuple(sorted(held)), tuple(query), tuple(gallery))


PROTOCOL = (
    "held-out training identities; per identity and camera its first image (path order) is a "
    "query, the rest the gallery; multi-gallery-shot, same identity and camera excluded; on "
    "synthetic data also each query with a seeded occluder (val_occ_*)"
)
# Mean hidden fraction of the body in the occluded validation queries: the synthetic data's
# default for its occluded test sets (datasets.synthetic SynthConfig.occlusion).
VAL_OCCLUSION = 0.4


class OccludedQueries(ReIDImages):
    """Validation queries, each with an occluder over about ``occlusion`` of its body.

    The occluder is drawn by the synthetic data's own ``draw_occluder`` (plants, boxes, cars,
    people, mostly from the bottom) on the query resized to the model's input, where its
    ground-truth label says the body is, from a generator seeded by (``seed``, query index):
    the same occluded queries every epoch and run. Paired with the holistic validation gallery
    this is the Occluded-REID setting on held-out training identities, which does not saturate
    the way holistic validation does.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        size: tuple[int, int],
        seed: int,
        occlusion: float = VAL_OCCLUSION,
    ) -> None:
        super().__init__(samples, size, with_parts=True, cache=True)
        self.seed, self.occlusion = seed, occlusion

    def decoded(self, i: int) -> tuple[np.ndarray, None]:
        image, parts = super().decoded(i)
        assert parts is not None, "with_parts=True: every query comes with its part labels"
        body = parts > 0
        if not body.any():
            return image, None
        rng = np.random.default_rng([self.seed, i])
        rows = np.flatnonzero(body.any(axis=1))
        foot_y, body_h = float(rows.max() + 1), float(rows.max() + 1 - rows.min())
        occ = draw_occluder(rng, body, occlusion_fraction(rng, self.occlusion), foot_y, body_h)
        rgb = np.clip(occ.rgb, 0, 255).astype(np.uint8)
        return np.where(occ.mask[..., None], rgb, image), None


@dataclass(frozen=True)
class Validator:
    """What ``fit`` calls after an epoch: validation metrics of the model, or {} if not due.

    Attributes:
        split: the held-out identities' query and gallery.
        labelled: query + gallery with their ground-truth labels (synthetic data), else ().
        occluded: the queries with an occluder drawn on (``OccludedQueries``; synthetic data),
            else None.
        size: (H, W) input size.
        batch_size: images per forward pass.
        distance: the run's test distance (eq. 1 or the official code's).
        every: validate after every ``every``-th epoch, and after the last.
        epochs: the number of training epochs.
        device: where the model runs.
    """

    split: ValidationSplit
    labelled: tuple[Sample, ...]
    occluded: OccludedQueries | None
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
    """``val_rank1``, ``val_mAP``; on synthetic data ``val_occ_rank1`` and ``val_occ_mAP`` (the
    occluded queries against the same gallery) and, for a method with masks, the grid mIoU of
    its masks (``val_parsing_miou``) and its mean visibility recall (``val_vis_recall``)."""
    sets = (v.split.query, v.split.gallery)
    bank = [extract(model, s, v.size, v.batch_size, v.device, "validation") for s in sets]
    result = evaluate(bank[0], bank[1], mode="multi", distance=v.distance)
    out = {"val_rank1": result.rank1, "val_mAP": result.mAP}
    if v.occluded is not None:
        # a DataLoader draws its base seed from torch's global generator: restore it, so the
        # occluded queries leave the training's random stream as it was without them
        with torch.random.fork_rng(devices=[]):
            queries = v.occluded.samples
            occ = extract(
                model, queries, v.size, v.batch_size, v.device, "validation", images=v.occluded
            )
        result = evaluate(occ, bank[1], mode="multi", distance=v.distance)
        out |= {"val_occ_rank1": result.rank1, "val_occ_mAP": result.mAP}
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
    occlusion_root: Path | None = None,
    seed: int = 0,
) -> Validator:
    """A Validator; ``truth_root`` is the synthetic data root for parsing quality (None: real
    data or no parsing); ``occlusion_root`` the one for the occluded queries, drawn with
    ``seed`` (None: real data, none)."""
    images = split.query + split.gallery
    labelled = tuple(with_truth(truth_root, images)) if truth_root is not None else ()
    occluded = None
    if occlusion_root is not None:
        occluded = OccludedQueries(with_truth(occlusion_root, split.query), size, seed)
    return Validator(split, labelled, occluded, size, batch_size, distance, every, epochs, device)


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
