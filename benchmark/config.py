"""Frozen run configuration (data, training, evaluation), ``--set a.b=v`` overrides, JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import ConfigError

TEST_SETS = (
    "market1501",
    "occluded_reid",
    "partial_reid",
    "partial_ilids_2018",
    "partial_ilids_2019",
)


@dataclass(frozen=True)
class DataConfig:
    root: str | None = None  # None: the synthetic default under data/synthetic-<synth_profile>
    synth_profile: str = "cpu"  # which synthetic size to generate when root is None
    occlusion: float | None = None  # synthetic occlusion strength; None = the profile's value
    height: int = 128  # input size; Market-1501's native 128x64 keeps every part on the map
    width: int = 64
    labels: str = "auto"  # part labels: "ps" (pseudo labels), "gt" (synthetic oracle) or "auto":
    # ps when the _ps_label tree exists (the paper's pipeline), else gt on synthetic data
    flip: bool = True  # paper 4.1: random flipping (image and part labels together)
    photometric: bool = False  # official code: random blur/brightness/contrast/saturation/gamma
    blackout: float = 0.0  # official code: p of blacking out 1-2 random parts (0.5 there)
    coco_min_aspect: float = 1.8  # official code: only upright boxes (h/w > 1.8) are stretched
    num_workers: int = 0  # small images decode faster than worker processes start


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 300  # paper 4.1
    iters_per_epoch: int | None = None  # None: images // batch size (one pass on average)
    ids_per_batch: int = 16  # paper 4.1: 16 identities x 4 images
    images_per_id: int = 4
    coco_batch: int = 32  # paper 4.1: 32 COCO images per step
    lr: float = 0.01  # paper 4.1: backbone rate; new layers x MethodConfig.new_layer_lr_mult
    momentum: float = 0.9
    weight_decay: float = 5e-4
    decay_epochs: tuple[int, ...] = (240,)  # paper 4.1: x0.1 after epoch 240 of 300
    gamma: float = 0.1
    warmup_epochs: int = 0  # linear lr warm-up; helps small from-scratch models start
    parsing_warmup_epochs: int = 0  # official code: 10 epochs of parsing losses only
    alternate_id_triplet: bool = False  # official code: ID and triplet losses on alternate steps
    amp: bool = False  # mixed precision (CUDA only)
    channels_last: bool = False  # memory format for convolutions on GPUs


@dataclass(frozen=True)
class EvalConfig:
    datasets: tuple[str, ...] = TEST_SETS
    modes: tuple[str, ...] = ("multi", "single")
    trials: int = 10  # single-gallery-shot trials (official HPNet code: 100)
    distance: str = "paper"  # eq. (1); "official" is the authors' code's distance
    without_vis: bool = True  # also score part methods with every visibility forced to 1
    partial_reid_query: str = "partial_body_images"  # or "occluded_body_images" (official code)
    batch_size: int = 128
    seed: int = 0  # seed of the single-shot trials
    occlusion_sweep: tuple[float, ...] = ()  # synthetic occlusion strengths for robustness curves
    sweep_datasets: tuple[str, ...] = ("occluded_reid", "partial_reid")


@dataclass(frozen=True)
class RunConfig:
    profile: str
    methods: tuple[str, ...] = ("hpnet", "baseline")
    seeds: tuple[int, ...] = (0,)
    method: dict[str, Any] = field(
        default_factory=dict
    )  # overrides for every method that has the field
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(d: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from ``to_dict()`` output (lists become tuples)."""
    sub = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}
    kwargs = {k: _typed(sub[k], v) if k in sub else _tuple(v) for k, v in d.items()}
    return RunConfig(**kwargs)


def _tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _typed(cls: type, d: dict[str, Any]) -> Any:
    return cls(**{k: _tuple(v) for k, v in d.items()})


def apply_overrides(cfg: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings (value parsed as JSON, else a string)."""
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set needs section.key=value, got {item!r}")
        cfg = _set(cfg, key.strip(), _parse(raw.strip()))
    return cfg


def _parse(raw: str) -> Any:
    try:
        return _tuple(json.loads(raw))
    except json.JSONDecodeError:
        return raw


def _set(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    section, _, name = key.partition(".")
    if section == "method" and name:
        return dataclasses.replace(cfg, method={**cfg.method, name: value})
    if not name:
        if section not in {"methods", "seeds"}:
            raise ConfigError(f"unknown setting {key!r}; use data.X, train.X, eval.X or method.X")
        return dataclasses.replace(cfg, **{section: _tuple(value)})
    sub = getattr(cfg, section, None)
    if section not in {"data", "train", "eval"} or name not in {
        f.name for f in dataclasses.fields(sub)
    }:
        valid = [
            f"{s}.{f.name}"
            for s in ("data", "train", "eval")
            for f in dataclasses.fields(getattr(cfg, s))
        ]
        raise ConfigError(
            f"unknown setting {key!r}; valid settings: {', '.join(valid)}, method.<field>"
        )
    if isinstance(getattr(sub, name), tuple) and not isinstance(value, tuple):
        value = (value,)
    return dataclasses.replace(cfg, **{section: dataclasses.replace(sub, **{name: value})})
