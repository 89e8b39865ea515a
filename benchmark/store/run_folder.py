"""The run folder: made only after every check passes, resumed under one rule, and its records.

A run folder holds ``config.json`` (the settings in force), ``env.json`` (the environment the
run started in), ``resume_log.json`` (one record per resume), the results, and one folder per
method x seed job (``methods/<method>-seed<k>/``: checkpoint, logs, ``done.json``).

What a resume may change. A setting that defines results the run already has is fixed; a setting
that only affects work still to do may change, and the change is recorded:

- ``methods``, ``seeds``: may grow; the new method x seed jobs run, finished ones are skipped.
  None of the run's may be dropped (their results exist or are planned).
- ``train.lr``: may be lowered, as the non-finite-loss error advises. Unfinished jobs continue
  from their last checkpoint at the lower rate (the schedule keeps its place); finished jobs keep
  the rate they trained with (the record lists which jobs had finished).
- ``eval.*``: may change. Every finished job is re-evaluated from its final ``checkpoint.pt``
  and its earlier rows are replaced; refused when a finished job's checkpoint is gone.
- anything else (``profile``, ``data.*``, every other ``train.*``, ``method.*``): refused with
  one line; start a new run instead.

Each resume appends ``{"time", "env", "changes": {key: {"old", "new"}}, "finished"}`` to
``resume_log.json`` and rewrites ``config.json`` atomically; ``env.json`` is never rewritten.
A job's ``done.json`` records the evaluation settings its rows were measured with, so a resume
interrupted in the middle of re-evaluating still knows which jobs are left.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from benchmark.atomic import write_json_atomic
from benchmark.config import EvalConfig, RunConfig, check_run_config, from_dict
from benchmark.errors import ConfigError, DataError, UserError, storage_error
from benchmark.store.results import ResultStore

CONFIG = "config.json"
ENV = "env.json"
RESUME_LOG = "resume_log.json"
DONE = "done.json"
TIMINGS = "timings.json"
CHECKPOINT = "checkpoint.pt"
GROWING = ("methods", "seeds")  # may gain items on resume, never lose them
ALLOWED = "a resume may add methods or seeds, lower train.lr or change eval.*"


def job_dir(run_dir: Path, method: str, seed: int) -> Path:
    """The folder of one method x seed job."""
    return Path(run_dir) / "methods" / f"{method}-seed{seed}"


def read_run_config(run_dir: Path) -> RunConfig:
    """The checked configuration stored in ``run_dir/config.json`` (one line when damaged)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json); pass the run folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); restore it or start a new run") from e
    try:
        cfg = from_dict(data)
        check_run_config(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path} is damaged: {e}; restore it or start a new run") from e
    return cfg


def check_out_dir(out: Path, flag: str = "--out") -> None:
    """Output folder ``out`` (given as ``flag``) must be a folder, or creatable as one, that
    this process can write in."""
    out = Path(out)
    existing = next(p for p in (out, *out.parents) if p.exists())  # "." or "/" at worst
    if not existing.is_dir():
        raise UserError(f"{flag} {out}: {existing} is a file, not a folder; pass a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(
            f"{flag} {out}: cannot create folders in {existing} (read-only or permission "
            "denied); pass a writable folder"
        )
    _probe_write(out, flag)


def _probe_write(out: Path, flag: str = "--out") -> None:
    """Create ``out`` and a file in it, then remove both: what ``os.access`` cannot tell (root,
    /proc, a full or read-only mount)."""
    made = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        storage = storage_error(e, out)  # disk full, quota, read-only: the usual one line
        raise storage or UserError(
            f"{flag} {out}: cannot write there ({e.strerror or e}); pass a writable folder"
        ) from e
    finally:
        for folder in made:
            with suppress(OSError):
                folder.rmdir()


def create_run(
    out: Path, cfg: RunConfig, env: Mapping[str, Any], name: str | None = None
) -> ResultStore:
    """A new run folder under ``out`` with config.json and env.json; on failure none of it stays."""
    out = Path(out)
    made = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    store = None
    try:
        store = ResultStore.create(out, name)
        store.write_json(CONFIG, cfg.to_dict())
        store.write_json(ENV, dict(env))
    except BaseException:
        if store is not None:
            shutil.rmtree(store.run_dir, ignore_errors=True)
        for folder in made:
            with suppress(OSError):
                folder.rmdir()
        raise
    return store


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old: RunConfig, new: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old, new) JSON values of every setting that differs."""
    before, after = (json.loads(json.dumps(_flat(c.to_dict()))) for c in (old, new))
    keys = dict.fromkeys([*before, *after])
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}


def _grown(name: str, old: tuple, new: tuple) -> tuple:
    """``new`` in the run's order (its new items last); dropping an item is refused."""
    dropped = [item for item in old if item not in new]
    if dropped:
        kept = " ".join(map(str, old))
        raise ConfigError(
            f"run --resume cannot drop {name} {', '.join(map(str, dropped))} from the run: "
            f"pass all of {kept} plus any new ones, or leave --{name} out"
        )
    return tuple(old) + tuple(item for item in new if item not in old)


def _refusal(key: str, old: Any, new: Any) -> str | None:
    """Why ``key`` may not change from ``old`` to ``new`` on resume; None when it may."""
    if key.startswith("eval."):
        return None
    if key == "train.lr":
        return None if new < old else f"train.lr may only be lowered on resume ({old} -> {new})"
    return f"run --resume cannot change {key} ({old} -> {new}): it defines results the run has"


def check_resume(run_dir: Path, old: RunConfig, new: RunConfig) -> RunConfig:
    """The resumed run's configuration when only what may change changed (see the module doc).

    Args:
        run_dir: the run folder being resumed.
        old: its stored configuration.
        new: the stored one with the flags and ``--set`` of this resume applied.

    Returns:
        ``new`` with methods and seeds in the run's order (new ones last).

    Raises:
        ConfigError: a change a resume may not make, in one line saying what to do instead.
    """
    # field name -> its grown tuple (tuple[str, ...] for methods, tuple[int, ...] for seeds)
    grown: dict[str, Any] = {
        name: _grown(name, getattr(old, name), getattr(new, name)) for name in GROWING
    }
    new = dataclasses.replace(new, **grown)
    changes = config_changes(old, new)
    for key, (was, now) in changes.items():
        reason = None if key in GROWING else _refusal(key, was, now)
        if reason is not None:
            raise ConfigError(f"{reason}; {ALLOWED}; start a new run for other settings")
    if any(key.startswith("eval.") for key in changes):
        _require_checkpoints(run_dir)
    read_resume_log(run_dir)  # a damaged log fails now, not after the data are ready
    return new


def finished_jobs(run_dir: Path) -> list[Path]:
    """Job folders whose training and evaluation finished (they hold ``done.json``)."""
    return sorted(p.parent for p in (Path(run_dir) / "methods").glob(f"*/{DONE}"))


def _require_checkpoints(run_dir: Path) -> None:
    lost = [job.name for job in finished_jobs(run_dir) if not (job / CHECKPOINT).is_file()]
    if lost:
        raise ConfigError(
            f"run --resume cannot re-evaluate {', '.join(lost)} with new eval.* settings: "
            f"{CHECKPOINT} is gone; start a new run with these settings"
        )


def read_resume_log(run_dir: Path) -> list[dict[str, Any]]:
    """The records of earlier resumes (empty for a run never resumed)."""
    path = Path(run_dir) / RESUME_LOG
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); restore it or delete it") from e
    if not isinstance(records, list):
        raise DataError(f"{path} is not a list of resume records; restore it or delete it")
    return records


def eval_stamp(cfg: RunConfig) -> dict[str, Any]:
    """The evaluation settings as stored in ``done.json`` (JSON values)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg.eval)))


def _done(job: Path) -> dict[str, Any] | None:
    """The job's ``done.json``, or None when it is absent or unreadable (the job reruns)."""
    try:
        done = json.loads((job / DONE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return done if isinstance(done, dict) else None


def job_state(job: Path, cfg: RunConfig) -> str:
    """The job's state: todo (never finished), done, or reevaluate (other eval settings)."""
    if not (job / DONE).exists():
        return "todo"
    done = _done(job)
    if done is None:
        return "reevaluate"  # its final checkpoint is kept: evaluating it again is safe
    stamp = done.get("eval")
    if not isinstance(stamp, dict):
        return "done" if stamp is None else "reevaluate"
    # a setting added since the job finished counts at its default (what the job ran with)
    defaults = json.loads(json.dumps(dataclasses.asdict(EvalConfig())))
    return "done" if defaults | stamp == eval_stamp(cfg) else "reevaluate"


def mark_done(job: Path, rows: int, cfg: RunConfig) -> None:
    """Record that ``job`` finished with ``rows`` result rows under ``cfg``'s eval settings."""
    write_json_atomic({"rows": rows, "eval": eval_stamp(cfg)}, Path(job) / DONE)


def write_timings(job: Path, timing: dict[str, float], keep_train: bool) -> Path:
    """Write ``job/timings.json``, keeping the training time already recorded when only
    evaluation reran (``keep_train``)."""
    path = Path(job) / TIMINGS
    try:
        before = json.loads(path.read_text(encoding="utf-8")) if keep_train else None
    except (OSError, ValueError):
        before = None
    if isinstance(before, dict) and "train_s" in before:
        timing = timing | {"train_s": before["train_s"]}
    return write_json_atomic(timing, path)


def record_resume(run_dir: Path, cfg: RunConfig, env: Mapping[str, Any]) -> dict[str, Any]:
    """Append this resume's record to ``resume_log.json``, then write ``cfg`` as config.json.

    Finished jobs from before ``done.json`` carried eval settings are stamped with the stored
    ones first, so a change of ``eval.*`` re-evaluates them.
    """
    run_dir = Path(run_dir)
    old = read_run_config(run_dir)
    changes = config_changes(old, cfg)
    finished = finished_jobs(run_dir)
    if any(key.startswith("eval.") for key in changes):
        for job in finished:
            done = _done(job)
            if done is not None and "eval" not in done:
                write_json_atomic(done | {"eval": eval_stamp(old)}, job / DONE)
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "env": dict(env),
        "changes": {key: {"old": was, "new": now} for key, (was, now) in changes.items()},
        "finished": [job.name for job in finished],
    }
    write_json_atomic([*read_resume_log(run_dir), record], run_dir / RESUME_LOG)
    write_json_atomic(cfg.to_dict(), run_dir / CONFIG, indent=2, sort_keys=True)
    return record
