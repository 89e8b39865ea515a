"""Run a benchmark: data -> train each method x seed -> evaluate every test set -> results store."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from benchmark.config import RunConfig
from benchmark.evaluation.validation import build_validator, write_validation
from benchmark.precision import precision_note, resolve_precision
from benchmark.profiles import weights_note
from benchmark.provenance import env_info, pick_device, seed_everything
from benchmark.run.data import RunData, prepare_data
from benchmark.run.job_eval import evaluate_method
from benchmark.run.streams import make_streams
from benchmark.state_files import save_state
from benchmark.store.per_query import merge_job
from benchmark.store.results import ResultStore
from benchmark.store.run_folder import (
    CHECKPOINT,
    DONE,
    check_out_dir,
    create_run,
    job_dir,
    job_state,
    mark_done,
    record_resume,
    write_timings,
)
from benchmark.training import distributed
from benchmark.training.distributed import SINGLE, Group
from benchmark.training.loop import fit
from benchmark.training.pretrain import init_options, prepare_inits
from reid_methods.base import build_method

__all__ = ["RunData", "prepare_data", "run_benchmark", "run_jobs", "run_method"]

log = logging.getLogger(__name__)


def run_method(
    cfg: RunConfig,
    data: RunData,
    method: str,
    seed: int,
    run_dir: Path,
    device,
    group: Group = SINGLE,
) -> list[dict]:
    """Train (or resume) one method with one seed and evaluate it; returns tidy rows.

    Under torchrun every rank trains; rank 0 alone evaluates and writes (the others get []).
    """
    labels_of = {pid: i for i, pid in enumerate(sorted({s.pid for s in data.train.train}))}
    labels = [labels_of[s.pid] for s in data.train.train]
    seed_everything(seed)
    model = build_method(method, len(labels_of), **init_options(cfg, method, device))
    run_dir.mkdir(parents=True, exist_ok=True)
    trained = (run_dir / DONE).exists()  # a re-evaluation: fit only loads the final checkpoint
    t0 = time.perf_counter()
    if model.cfg.trains:
        streams = make_streams(cfg, data, model, labels, seed, device, group)
        validator = make_validator(cfg, data, device) if group.main else None
        fit(model, streams, cfg.train, run_dir, device, validator, group)
    elif group.main:  # training-free: evaluated as built; its state (if any) kept for export
        save_state({"model": model.state_dict(), "epoch": 0}, run_dir / CHECKPOINT)
    t1 = time.perf_counter()
    if not group.main:
        return []
    rows = evaluate_method(cfg, data, model, method, seed, run_dir, device)
    timing = {"train_s": t1 - t0, "eval_s": time.perf_counter() - t1}
    write_timings(run_dir, timing, keep_train=trained)
    return rows


def make_validator(cfg: RunConfig, data: RunData, device):
    """The per-epoch validation on the held-out identities, or None (``train.val_ids`` = 0)."""
    if data.validation is None:
        return None
    parsing = data.kind == "synthetic" and cfg.eval.parsing  # real data: no parsing truth
    truth = data.root if parsing else None
    size, t = (cfg.data.height, cfg.data.width), cfg.train
    batch, distance = cfg.eval.batch_size, cfg.eval.distance
    occlusion = data.root if data.kind == "synthetic" else None  # real data: no body masks
    return build_validator(
        data.validation,
        truth,
        size,
        batch,
        distance,
        t.val_every,
        t.epochs,
        device,
        occlusion_root=occlusion,
        seed=t.val_seed,
    )


def run_benchmark(
    cfg: RunConfig,
    out: Path,
    resume: Path | None = None,
    device: str | None = None,
    name: str | None = None,
    group: Group = SINGLE,
):
    """Run every method x seed of ``cfg``; returns (run folder, results DataFrame).

    ``name`` names a new run folder (a sweep job's key); default: a timestamp.

    Everything is checked before any work: the device, the output folder (or the stored results
    of a resumed run), then the data. Only then is the run folder made (removed again if its
    first files cannot be written) or the resume recorded (see ``benchmark.store.run_folder``).
    Under torchrun (``group``) rank 0 does every write first and the others follow it.
    """
    dev = pick_device(group.device_name(device))
    t = cfg.train
    distributed.check_group(group, dev, t.sync_bn, t.ids_per_batch, t.coco_batch)
    if group.main and (note := weights_note(cfg)):
        log.warning(note)  # at the start: a paper-scale run from scratch is days of wrong work
    store = ResultStore.open(resume) if resume else None  # a malformed stored row fails here
    if store is None and group.main:  # rank 0 writes the run folder; a probe per rank would race
        check_out_dir(out)
    with group.main_first():  # rank 0 generates data and builds caches, the others read them
        # a missing or bad weights file fails before any data are drawn; pretrained=synthetic:
        # the shared trunk, built now
        inits = prepare_inits(cfg, dev)
        data = prepare_data(cfg)  # before the run folder exists: bad data leaves nothing behind
        env = env_info() | {"device": str(dev), "precision": resolve_precision(cfg.train.amp, dev)}
        env |= inits
    env |= distributed.describe(group, dev)
    if group.main and (note := precision_note(cfg.train.amp, env["precision"])):
        log.warning(note)
    main_dir = None  # rank 0's run folder, new or resumed; the other ranks receive it
    if group.main:
        if store is None:
            store = create_run(out, cfg, env, name)
        else:
            record = record_resume(store.run_dir, cfg, env)  # env.json keeps the first environment
            for key, change in record["changes"].items():
                log.info("resume: %s %s -> %s (resume_log.json)", key, change["old"], change["new"])
        main_dir = store.run_dir
    run_dir = group.broadcast(main_dir)
    assert run_dir is not None, "rank 0 broadcasts the run folder it made or resumed"
    if not group.main:
        store = ResultStore(run_dir)  # never written by this rank
    else:
        write_validation(data.validation, cfg.train.val_ids, cfg.train.val_seed, run_dir)
    assert store is not None, "rank 0 made or resumed the run folder; the other ranks opened it"
    log.info("run folder %s (continue an interrupted run with --resume %s)", *[store.run_dir] * 2)
    what = (data.root, data.kind, len(data.train.train), data.labels)
    log.info("data: %s (%s), %d training images, part labels: %s", *what)
    run_jobs(cfg, data, store, dev, group)
    return store.run_dir, pd.read_csv(store.run_dir / "results.csv")


def run_jobs(
    cfg: RunConfig, data: RunData, store: ResultStore, device, group: Group = SINGLE
) -> None:
    """Train and evaluate each method x seed not yet done; re-evaluate those whose eval changed.

    Under torchrun every rank trains each job and rank 0 stores it before any rank moves on.
    """
    for seed in cfg.seeds:
        for method in cfg.methods:
            sub = job_dir(store.run_dir, method, seed)
            state = job_state(sub, cfg)
            if state == "done":
                log.info("%s seed %d already finished; skipping", method, seed)
                continue
            if state == "reevaluate":
                log.info("%s seed %d: re-evaluating its final checkpoint", method, seed)
            rows = run_method(cfg, data, method, seed, sub, device, group)
            if group.main:
                merge_job(store.run_dir, sub, method, seed)  # before the rows: done means both
                store.replace(method, seed, [{"run": store.run_dir.name, **r} for r in rows])
                mark_done(sub, len(rows), cfg)
            group.barrier()  # the next job's state is read once this one is stored
