"""Glue: model -> features of query/gallery -> protocols -> metrics and CMC curves (no files)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from benchmark.errors import DataError
from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.protocols import evaluate
from benchmark.evaluation.ranking import PerQuery
from benchmark.evaluation.rerank import RerankParams
from benchmark.loading.data import ReIDImages, collate
from benchmark.precision import autocast
from reid_datasets.base import Sample, Splits

# Data sets whose pids follow Market-1501's codes (0 = distractor); every other set's pids are
# ordinary identities. The loaders drop junk (pid -1) at load either way.


@dataclass(frozen=True)
class ProtocolResult:
    """One protocol on one test set.

    Attributes:
        context: the result row's dataset, query_set, mode, distance and vis.
        metrics: metric name -> value (fractions for rank-k and mAP).
        cmc: [max_rank] CMC curve, ``cmc[k - 1]`` = Rank-k.
        per_query: the multi-gallery-shot per-query results behind the metrics, in query order.
    """

    context: dict[str, Any]
    metrics: dict[str, float]
    cmc: np.ndarray
    per_query: PerQuery | None = None


@dataclass(frozen=True)
class SetEvaluation:
    """Every protocol on one test set (each of its query sets), with the features they were
    computed from (``query``: the main query set; ``queries``: all of them by name)."""

    results: tuple[ProtocolResult, ...]
    query: FeatureBank
    gallery: FeatureBank
    queries: dict[str, FeatureBank] = field(default_factory=dict)  # every query set, by name


@torch.no_grad()
def extract(
    model,
    samples: Sequence[Sample],
    size: tuple[int, int],
    batch_size: int,
    device: torch.device,
    desc: str,
    num_workers: int = 0,
    precision: str = "fp32",
    images: Dataset | None = None,
) -> FeatureBank:
    """Features, visibility, pids and camids of ``samples`` (model in eval mode).

    ``precision`` "bf16"/"fp16": the forward runs under that autocast (as training did with
    ``train.amp``); the features come back as float32 either way. ``images``: the dataset that
    yields the samples' images, item for item (default: the images as stored).
    """
    model.eval()
    device = torch.device(device)  # a name ("cpu") works too
    loader = DataLoader(
        ReIDImages(samples, size) if images is None else images,
        batch_size=batch_size,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",  # asynchronous copies to the GPU
    )
    feats, vis = [], []
    for item in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True):
        with autocast(precision, device):
            out = model(item["images"].to(device, non_blocking=True))
        feats.append(out.features.float().cpu())  # [n, P, D]
        vis.append(out.visibility.float().cpu())  # [n, P]
    return FeatureBank(
        torch.cat(feats),
        torch.cat(vis),
        torch.tensor([s.pid for s in samples]),
        torch.tensor([s.camid for s in samples]),
    )


def query_set_name(splits: Splits) -> str:
    """The query folder a table must name (Partial-REID's differs between codebases)."""
    return splits.info.get("query_folder", "query")


def evaluate_splits(
    model,
    splits: Splits,
    size: tuple[int, int],
    device: torch.device,
    *,
    modes: tuple[str, ...] = ("multi", "single"),
    trials: int = 10,
    seed: int = 0,
    distance: str = "paper",
    without_vis: bool = True,
    market_ids: bool = False,
    batch_size: int = 128,
    num_workers: int = 0,
    precision: str = "fp32",
    rerank: RerankParams | None = None,
) -> SetEvaluation:
    """Every protocol (``modes`` x with/without visibility) on one test set; writes nothing.

    Args:
        modes: "multi" and/or "single" gallery shot; ``trials`` single-shot trials from ``seed``.
        distance: a name of ``DISTANCES`` (eq. 1 "paper", or "official").
        without_vis: also score part methods with every visibility forced to 1.
        market_ids: Market-1501's pid codes (-1 junk, 0 distractor) on this set.
        precision: the autocast precision of the features.
        rerank: also score every protocol on k-reciprocal re-ranked distances, in rows of
            their own (distance "paper+rerank"), beside the plain ones.
    """
    if not splits.query or not splits.gallery:
        raise DataError(f"{splits.name}: the query or gallery split is empty; check the data root")
    bs, name = batch_size, splits.name
    query = extract(model, splits.query, size, bs, device, f"{name} query", num_workers, precision)
    gallery = (  # a whole-body control scores a set against itself: extract it once
        query
        if splits.gallery == splits.query
        else extract(
            model, splits.gallery, size, bs, device, f"{name} gallery", num_workers, precision
        )
    )
    # "test w/o vis" for every part method (P > 1), whatever its visibility: rows stay stable
    part_method = query.visibility.shape[1] > 1
    vis_options = (True, False) if without_vis and part_method else (True,)
    banks = {query_set_name(splits): query}
    for extra_name, samples in splits.extra_queries.items():  # e.g. the other query folder
        desc = f"{name} {extra_name}"
        banks[extra_name] = extract(model, samples, size, bs, device, desc, num_workers, precision)
    results = []
    for query_set, bank in banks.items():
        protocols = (None,) if rerank is None else (None, rerank)  # plain, then re-ranked
        for mode, vis, params in product(modes, vis_options, protocols):
            result = evaluate(
                bank,
                gallery,
                mode=mode,
                trials=trials,
                seed=seed,
                use_visibility=vis,
                distance=distance,
                market_ids=market_ids,
                rerank=params,
            )
            context = {
                "dataset": name,
                "query_set": query_set,
                "mode": mode,
                "distance": distance if params is None else params.distance_name(distance),
                "vis": vis,
            }
            metrics = result.to_dict() | ({"trials": trials} if mode == "single" else {})
            results.append(ProtocolResult(context, metrics, result.cmc, result.per_query))
    return SetEvaluation(tuple(results), query, gallery, banks)
