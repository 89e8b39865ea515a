"""The data a run holds: its root, training split, test sets, COCO stream, occlusion sweep."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.config import RunConfig, loader_options
from benchmark.errors import DataError
from benchmark.evaluation.parsing_truth import sets_with_truth
from benchmark.evaluation.validation import ValidationSplit, split_validation
from benchmark.loading.controls import controls
from benchmark.loading.roots import (
    data_root,
    ensure_synthetic,
    load_test_set,
    resolve_labels,
    synthetic_root,
)
from benchmark.loading.samplers import require_identities
from reid_datasets.base import Splits, load_dataset
from reid_datasets.synthetic import MARKER
from reid_methods.base import applicable_options, method_config


@dataclass(frozen=True)
class RunData:
    """What every method of a run trains and tests on."""

    root: Path
    kind: str  # "synthetic" or "real"
    train: Splits
    tests: dict[str, Splits]
    coco: tuple = ()
    sweep: dict[float, dict[str, Splits]] = dataclasses.field(default_factory=dict)
    labels: str = "none"  # which part labels trained the part methods: "ps", "gt" or "none"
    validation: ValidationSplit | None = None  # training identities held out (train.val_ids)
    parsing_sets: tuple[str, ...] = ()  # test sets scored for parsing quality (ground truth)
    # synthetic data: whose cameras the occluded/partial sets have ("own" or "market")
    test_cameras: str | None = None
    # synthetic data: each occluded/partial set's whole-body control (benchmark.loading.controls)
    controls: dict[str, Splits] = dataclasses.field(default_factory=dict)


def prepare_sweep(cfg: RunConfig, kind: str) -> dict[float, dict[str, Splits]]:
    """The occluded test sets redrawn at each occlusion strength of ``eval.occlusion_sweep``."""
    if cfg.eval.occlusion_sweep and kind != "synthetic":
        raise DataError("the occlusion sweep needs the synthetic data; drop --root or the sweep")
    sweep = {}
    for occ in cfg.eval.occlusion_sweep:
        overrides = cfg.data.synth_overrides() | {"occlusion": occ}
        root = synthetic_root(cfg.data.synth_profile, overrides, "-sweep")
        sets = tuple(cfg.eval.sweep_datasets)
        ensure_synthetic(cfg.data.synth_profile, root, **overrides, sets=sets)
        sweep[occ] = {
            name: load_test_set(name, root, loader_options(cfg, name))
            for name in cfg.eval.sweep_datasets
        }
    return sweep


def prepare_data(cfg: RunConfig) -> RunData:
    """Resolve the data root (generating the synthetic default) and parse every split needed."""
    root, kind = data_root(cfg.data.root, cfg.data.synth_profile, cfg.data.synth_overrides())
    configs = [method_config(m, **applicable_options(m, cfg.method)) for m in cfg.methods]
    needs = any(c.needs_part_labels for c in configs)
    train_set = cfg.data.train_set
    labels = resolve_labels(cfg.data.labels, root, kind, train_set) if needs else "none"
    train = load_dataset(train_set, root, **({"labels": labels} if needs else {}))
    kept, validation = split_validation(train.train, cfg.train.val_ids, cfg.train.val_seed)
    train = dataclasses.replace(train, train=kept)
    held = 0 if validation is None else len(validation.pids)
    require_identities(len({s.pid for s in kept}), cfg.train.ids_per_batch, held)  # before work
    tests = {
        name: load_test_set(name, root, loader_options(cfg, name)) for name in cfg.eval.datasets
    }
    coco = load_dataset("coco_densepose", root).train if any(c.needs_coco for c in configs) else ()
    sweep = prepare_sweep(cfg, kind)
    queries = {name: s.query for name, s in tests.items()} if cfg.eval.parsing else {}
    scored = sets_with_truth(root, queries, kind == "synthetic")
    synthetic = kind == "synthetic"
    cameras = synthetic_setting(root, "test_cameras", "own") if synthetic else None
    control = controls(tests, root) if synthetic else {}  # real releases lack the cameras
    return RunData(
        root, kind, train, tests, tuple(coco), sweep, labels, validation, scored, cameras, control
    )


def synthetic_setting(root: Path, key: str, default: Any) -> Any:
    """A generator setting of the synthetic tree under ``root`` (its marker file records them;
    a tree from before the setting existed was drawn with its default)."""
    record = json.loads((root / MARKER).read_text(encoding="utf-8"))
    return record.get("config", {}).get(key, default)
