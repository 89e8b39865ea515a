"""The training loop: named loss terms, PK batches, the COCO parsing stream, checkpoints, resume."""

from __future__ import annotations

import contextlib
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from benchmark.atomic import write_csv_atomic
from benchmark.errors import NonFiniteError
from benchmark.precision import autocast, grad_scaler, resolve_precision
from benchmark.training.checkpoint import load_checkpoint, save_checkpoint
from benchmark.training.config import TrainConfig
from benchmark.training.distributed import SINGLE, Group, Local
from reid_methods.base import Batch, Method

log = logging.getLogger(__name__)


def dropped_terms(
    cfg: TrainConfig, epoch: int, step: int, parsing: bool = True, triplet: bool = True
) -> frozenset[str]:
    """Loss terms the official recipe leaves out at this step (none in the paper's recipe).

    ``parsing`` says whether the method has parsing terms; one without them has no warm-up.
    ``triplet`` says whether it has a triplet term: without one there is nothing to alternate
    with, so the ID loss runs every step (the official lambda_tri = 0 run sets
    ide_tri_iter=False; PCB has no triplet term).
    """
    if parsing and epoch < cfg.parsing_warmup_epochs:
        return frozenset({"id", "triplet"})  # official code: parsing-only warm-up epochs
    if cfg.alternate_id_triplet and triplet:
        return frozenset({"id"} if step % 2 == 0 else {"triplet"})  # official: alternate steps
    return frozenset()


@dataclass
class Streams:
    """The ReID loader (PK batches) and the optional COCO parsing loader of one run."""

    reid: DataLoader
    coco: DataLoader | None = None

    def set_epoch(self, epoch: int) -> None:
        for loader in (self.reid, self.coco):
            if loader is not None:
                loader.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]


def build_optimizer(model: Method, cfg: TrainConfig, iters_per_epoch: int):
    """SGD (paper 4.1) on the method's parameter groups; the schedule steps once per iteration.

    The rate warms up linearly over ``warmup_epochs`` and drops by ``gamma`` after each epoch
    in ``decay_epochs`` (paper: x0.1 after epoch 240).
    """
    groups = model.param_groups(cfg.lr)
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    warm_steps = cfg.warmup_epochs * iters_per_epoch

    def factor(step: int) -> float:
        warm = (step + 1) / warm_steps if step < warm_steps else 1.0
        return warm * cfg.gamma ** sum(step // iters_per_epoch >= e for e in cfg.decay_epochs)

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def use_rates(opt, sched, base_lrs: list[float]) -> None:
    """Make ``base_lrs`` the schedule's base rates after a checkpoint restored older ones.

    The rate in effect becomes base x the schedule's factor at the restored step; nothing
    changes when the rates are those of the checkpoint (a plain resume).
    """
    if list(sched.base_lrs) == base_lrs:
        return
    log.info("learning rates %s -> %s (changed on resume)", sched.base_lrs, base_lrs)
    sched.base_lrs = list(base_lrs)
    for group, base, factor in zip(opt.param_groups, base_lrs, sched.lr_lambdas, strict=True):
        group["initial_lr"] = base
        group["lr"] = base * factor(sched.last_epoch)


def fit(
    model: Method,
    streams: Streams,
    cfg: TrainConfig,
    run_dir: Path,
    device: torch.device,
    validate: Callable[[Method, int], dict[str, float]] | None = None,
    group: Group = SINGLE,
) -> pd.DataFrame:
    """Train ``model`` for ``cfg.epochs``, resuming from ``run_dir/checkpoint.pt`` if present.

    Writes ``checkpoint.pt`` after every epoch and ``train_log.csv`` (one row per epoch: the
    epoch, the optimiser steps so far, the rate, every loss term and what ``validate(model,
    epoch)`` returns, e.g. ``val_rank1``: ``benchmark.evaluation.validation``); returns the log.
    Under torchrun (``group``) every rank trains its share of each batch through DDP and
    rank 0 alone validates and writes; the logged loss terms are means over the ranks.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    opt, sched = build_optimizer(model, cfg, len(streams.reid))
    ckpt, log_path = run_dir / "checkpoint.pt", run_dir / "train_log.csv"
    start = 0
    rows: list[dict[str, Any]] = []
    if ckpt.exists():
        configured = list(sched.base_lrs)
        start = load_checkpoint(ckpt, model, opt, sched)["epoch"]
        use_rates(opt, sched, configured)  # a resume may lower train.lr (e.g. after a NaN)
        rows = pd.read_csv(log_path).to_dict("records")[:start] if log_path.exists() else []
        log.info("resuming %s from epoch %d", run_dir.name, start)
    precision = resolve_precision(cfg.amp, device)
    scaler = grad_scaler(precision, device)
    replica = group.replicate(model, device, cfg.sync_bn)
    for epoch in range(start, cfg.epochs):
        streams.set_epoch(epoch)
        lr = opt.param_groups[0]["lr"]
        terms = train_one_epoch(
            model, streams, opt, sched, scaler, cfg, device, epoch, precision, replica
        )
        terms = group.mean(terms)
        steps = (epoch + 1) * len(streams.reid)
        if not group.main:
            continue  # rank 0 validates and writes; the others meet it in the next step
        val = validate(model, epoch) if validate is not None else {}  # held-out train ids
        rows.append({"epoch": epoch + 1, "step": steps, "lr": lr, **terms, **val})
        # the log first: a checkpoint always has its epoch's row (a kill between the two
        # resumes from the older checkpoint, which keeps the log's first rows only)
        write_csv_atomic(pd.DataFrame(rows), log_path)
        save_checkpoint(ckpt, model, opt, sched, epoch + 1)
    return pd.DataFrame(rows)


def train_one_epoch(
    model,
    streams: Streams,
    opt,
    sched,
    scaler,
    cfg: TrainConfig,
    device,
    epoch: int,
    precision: str = "fp32",
    replica: Local | None = None,
) -> dict:
    """One epoch; returns the mean of every named loss term (weighted, as summed).

    ``replica`` is how the step reaches the model: the model itself (default) or DDP.
    """
    replica = replica or Local(model)
    model.train()
    sums: dict[str, float] = defaultdict(float)
    visible: list[torch.Tensor] = []  # [P] fraction of the batch where each part is visible
    coco_iter = iter(streams.coco) if streams.coco is not None else None
    bar = tqdm(
        streams.reid,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        dynamic_ncols=True,
        disable=not replica.main,
    )
    for step, item in enumerate(bar):
        opt.zero_grad(set_to_none=True)
        batch = Batch(item["images"], item["labels"], item["parts"]).to(device)

        def reid_loss(out, batch=batch, step=step):
            visible.append(out.visibility.detach().float().mean(0).cpu())
            terms = model.loss(out, batch)
            parsing = model.cfg.needs_part_labels
            drop = dropped_terms(cfg, epoch, step, parsing, "triplet" in terms)
            return {k: v for k, v in terms.items() if k not in drop}

        # with a COCO batch to come, DDP reduces the gradients once, after both backwards
        later = replica.accumulate() if coco_iter is not None else contextlib.nullcontext()
        with later:
            terms = forward_backward(
                replica.reid, batch.images, cfg, scaler, device, reid_loss, precision
            )
        if coco_iter is not None:  # eq. (10): the COCO batch after the ReID batch, grads summed
            coco = next(coco_iter)
            images, parts = coco["images"].to(device), coco["parts"].to(device)

            def coco_loss(masks, parts=parts):
                return model.coco_loss(masks, parts)

            terms |= forward_backward(
                replica.coco, images, cfg, scaler, device, coco_loss, precision
            )
        check_finite(terms, epoch, step)
        scaler.step(opt)
        scaler.update()
        sched.step()
        for k, v in terms.items():
            sums[k] += v
        bar.set_postfix(loss=f"{sum(terms.values()):.3f}")
    n = len(streams.reid)
    vis = torch.stack(visible).mean(0).tolist()
    parts = {f"visible_part{j + 1}": v for j, v in enumerate(vis)} if len(vis) > 1 else {}
    return (
        {f"loss_{k}": v / n for k, v in sums.items()}
        | {"loss_total": sum(sums.values()) / n}
        | parts
    )


def forward_backward(
    forward, images, cfg: TrainConfig, scaler, device, loss_fn, precision: str = "fp32"
) -> dict[str, float]:
    """``loss_fn(forward(images))``, back-propagates the sum of its terms; returns them as floats.

    ``forward`` is the model (ReID batches) or its ``parse`` (COCO batches: no BN necks).

    Forward and losses run under ``precision``'s autocast (which keeps losses in float32).
    """
    if cfg.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with autocast(precision, device):
        terms = loss_fn(forward(images))
    if terms:
        scaler.scale(sum(terms.values())).backward()
    return {k: float(v.detach()) for k, v in terms.items()}


def check_finite(terms: dict[str, float], epoch: int, step: int) -> None:
    bad = [k for k, v in terms.items() if not math.isfinite(v)]
    if bad:
        raise NonFiniteError(
            f"loss term(s) {', '.join(bad)} became non-finite at epoch {epoch + 1}, "
            f"step {step + 1}; the last good checkpoint is kept: lower train.lr and run again "
            "with --resume"
        )
