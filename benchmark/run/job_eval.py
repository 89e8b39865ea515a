"""Evaluate one trained job: every test set -> tidy rows, figure data and per-query results."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmark.config import EvalConfig, RunConfig
from benchmark.evaluation.extract import SetEvaluation, evaluate_splits, query_set_name
from benchmark.evaluation.parsing import PARSING_MODE, evaluate_parsing, parsing_file
from benchmark.evaluation.rerank import RerankParams
from benchmark.precision import resolve_precision
from benchmark.profiles import init_kind
from benchmark.reporting.figure_data import cmc_rows, save_cmc, save_masks, save_rankings
from benchmark.reporting.ranklist_data import MaskRecorder, store_ranklist_data
from benchmark.run.data import RunData
from benchmark.store.per_query import query_frame, save_job
from benchmark.store.rows import make_rows
from reid_datasets.base import Splits, dataset_info


def rerank_params(ecfg: EvalConfig) -> RerankParams | None:
    """The re-ranking protocol a run asks for (``eval.rerank``), or None."""
    if not ecfg.rerank:
        return None
    return RerankParams(ecfg.rerank_k1, ecfg.rerank_k2, ecfg.rerank_lambda)


LAST_EPOCH = "last"  # the ``checkpoint`` of every trained row: the final epoch's weights


def evaluate_method(
    cfg: RunConfig, data: RunData, model, method: str, seed: int, run_dir: Path, device
) -> list[dict]:
    """Every test set (and occlusion sweep set) -> tidy rows; writes the method's figure data.

    Figure data in ``run_dir``: ``cmc.csv`` (every protocol's CMC curve), and on the examples
    set (registered with ``examples=True``) the ranking lists and the predicted part masks;
    ``per_query.csv.gz``.
    """
    size = (cfg.data.height, cfg.data.width)
    labels = data.labels if model.cfg.needs_part_labels else "none"
    precision = resolve_precision(cfg.train.amp, device)
    base = {"method": method, "seed": seed, "data": data.kind, "labels": labels}
    init = init_kind(cfg.method.get("pretrained")) if model.cfg.trains else "none"
    base |= {"precision": precision, "init": init}
    base |= {"checkpoint": LAST_EPOCH if model.cfg.trains else "none"}  # never chosen on a split
    backbone = model.cfg.backbone if model.cfg.trains else "none"  # training-free: no network
    base |= {"train_set": cfg.data.train_set, "backbone": backbone}
    if data.test_cameras is not None:  # synthetic data: the occluded/partial sets' cameras
        base |= {"test_cameras": data.test_cameras}
    sweep_eval = dataclasses.replace(cfg.eval, modes=("multi",))  # robustness curves: multi-shot
    rows, curves, queries = [], [], []

    def collect(found: SetEvaluation, occ: float | None) -> None:
        """The rows, CMC curves and per-query rows of every protocol of one evaluation."""
        for result in found.results:
            ctx = base | result.context | ({} if occ is None else {"occlusion": occ})
            rows.extend(make_rows(ctx, result.metrics))
            curves.extend(cmc_rows(result.context, result.cmc, occ))
            bank = found.queries[result.context["query_set"]]
            queries.append(query_frame(ctx, result.per_query, bank, labels != "none"))

    for occ, tests in [(None, data.tests), *data.sweep.items()]:
        ecfg = cfg.eval if occ is None else sweep_eval
        for name, splits in tests.items():
            with MaskRecorder(model) as recorder:  # part maps of the extraction's own forward
                found = evaluate_splits(
                    model,
                    splits,
                    size,
                    device,
                    modes=ecfg.modes,
                    trials=ecfg.trials,
                    seed=ecfg.seed,
                    distance=ecfg.distance,
                    without_vis=ecfg.without_vis,
                    market_ids=dataset_info(name).market_ids,
                    batch_size=ecfg.batch_size,
                    num_workers=cfg.data.num_workers,
                    precision=precision,
                    rerank=rerank_params(ecfg),
                )
            if occ is None:
                store_ranklist_data(splits, found.query, found.gallery, recorder, run_dir)
            if occ is None and dataset_info(name).examples:
                save_rankings(
                    splits, found.query, found.gallery, run_dir, distance=cfg.eval.distance
                )
                save_masks(model, splits, size, device, run_dir)
            collect(found, occ)
            if occ is None and name in data.parsing_sets:  # sets with ground truth only
                rows += parsing_rows(cfg, data, model, splits, base, run_dir, device)
    for splits in data.controls.values():  # whole-to-whole on each set's own cameras
        found = evaluate_splits(
            model,
            splits,
            size,
            device,
            modes=("multi",),
            distance=cfg.eval.distance,
            without_vis=False,
            batch_size=cfg.eval.batch_size,
            num_workers=cfg.data.num_workers,
            precision=precision,
        )
        collect(found, None)
    save_cmc(curves, run_dir)
    save_job(queries, run_dir)
    return rows


def parsing_rows(
    cfg: RunConfig, data: RunData, model, splits: Splits, base: dict, run_dir: Path, device
) -> list[dict]:
    """Parsing-quality rows of the method's own masks on a synthetic test set's queries."""
    size = (cfg.data.height, cfg.data.width)
    out = run_dir / parsing_file(splits.name)
    metrics = evaluate_parsing(
        model, splits.query, data.root, size, device, cfg.eval.batch_size, out
    )
    if metrics is None:  # a method without masks
        return []
    context: dict[str, Any] = {"dataset": splits.name, "query_set": query_set_name(splits)}
    context |= {"mode": PARSING_MODE, "distance": "-", "vis": True}
    return make_rows(base | context, metrics)
