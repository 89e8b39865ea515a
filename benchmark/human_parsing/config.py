"""ParseConfig: the part-segmentation training settings and their smoke / cpu / paper profiles."""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from typing import Any

from benchmark.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class ParseConfig:
    """Everything that determines a parser training run (recorded in config.json).

    The defaults are the ``cpu`` profile.

    Attributes:
        backbone: encoder name of ``methods.backbone`` (narrow ResNets for the cpu profile).
        pretrained: local ResNet state dict to start the encoder from, or None (from scratch).
        attention: DANet's position and channel attention on the stride-16 map (paper 4.2).
        height, width: input size; Market-1501 images are 128x64, COCO crops are resized to it.
        batch_size: COCO crops per step.
        iters: total optimiser steps (fixed, not wall time, so runs repeat across machines).
        chunk: steps per log row and checkpoint (the unit of resume).
        lr, weight_decay, warmup: AdamW with linear warm-up then poly decay (power 0.9).
        flip, photometric: paired augmentations of benchmark.training.transforms.
        zoom_out: most extra scene per side around a COCO person box (0 = tight crops).
        seed: seeds the weights, the batches and the augmentations.
        coco_splits: DensePose annotation files to train on (train, val, minival).
        cache: keep decoded, resized crops in memory (small sets; off for real COCO).
        workers: DataLoader worker processes.
    """

    backbone: str = "resnet18_quarter"  # 4x fewer FLOPs than half width; ample for 8 classes
    pretrained: str | None = None
    attention: bool = True
    height: int = 128
    width: int = 64
    batch_size: int = 32
    iters: int = 1200
    chunk: int = 100
    lr: float = 2e-3  # AdamW from scratch; SGD at 0.01 needs far more steps here
    weight_decay: float = 1e-4
    warmup: int = 50  # steps; keeps the first updates of a from-scratch BN net stable
    flip: bool = True
    photometric: bool = True
    zoom_out: float = 0.5  # ReID boxes show margins around the person; tight COCO boxes do not
    seed: int = 0
    coco_splits: tuple[str, ...] = ("train",)
    cache: bool = True
    workers: int = 1  # one worker: augmentation off the training thread, single-threaded ops

    def __post_init__(self) -> None:
        if self.height < 32 or self.width < 16:
            raise ConfigError("parse height/width must be at least 32x16 (stride-16 encoder)")
        for name in ("batch_size", "iters", "chunk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"parse {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or min(self.weight_decay, self.warmup, self.workers, self.zoom_out) < 0:
            raise ConfigError(
                "parse lr must be > 0 and weight_decay, warmup, workers, zoom_out >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        d = dataclasses.asdict(self)
        d["coco_splits"] = list(self.coco_splits)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParseConfig:
        """Inverse of ``to_dict``; unknown keys are a ConfigError."""
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - fields)
        if bad:
            raise ConfigError(
                f"unknown parse setting(s) {', '.join(bad)}; valid: {', '.join(sorted(fields))}"
            )
        d = dict(d)
        if "coco_splits" in d:
            d["coco_splits"] = tuple(d["coco_splits"])
        return cls(**d)


# smoke: seconds (tests, CI); cpu: a few minutes on 2 cores; paper: ResNet-50 on real COCO (GPU).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        workers=0,
        photometric=False,
        backbone="resnet18_quarter",
        height=64,
        width=32,
        batch_size=16,
        iters=40,
        chunk=20,
        warmup=5,
    ),
    "cpu": {},
    "paper": dict(
        backbone="resnet50",
        height=256,
        width=128,
        batch_size=32,
        iters=40000,
        chunk=1000,
        lr=1e-3,
        warmup=500,
        cache=False,
        workers=8,
    ),
}

_TYPES = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def parse_profile(profile: str, overrides: list[str] | tuple[str, ...] = ()) -> ParseConfig:
    """The ParseConfig of ``profile`` with ``key=value`` overrides (values in JSON or bare strings).

    Raises:
        UnknownNameError: unknown profile.
        ConfigError: unknown key or a value of the wrong type.
    """
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UnknownNameError(
            f"unknown parse profile {profile!r}{hint}; valid: {', '.join(PROFILES)}"
        )
    values = dict(PROFILES[profile])
    defaults = ParseConfig()
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not KEY=VALUE; e.g. --set iters=500")
        values[key.strip()] = _coerce(key.strip(), raw, defaults)
    return ParseConfig.from_dict(values)


def _coerce(key: str, raw: str, defaults: ParseConfig) -> Any:
    """Read ``raw`` as JSON (falling back to a string) and check it against the field's type."""
    if not hasattr(defaults, key):
        return raw  # from_dict names the unknown key
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    default = getattr(defaults, key)
    if isinstance(default, tuple):
        return tuple(value) if isinstance(value, list) else (value,)
    if default is None:
        return None if value is None else str(value)
    kinds = _TYPES[type(default)]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"parse setting {key} must be {type(default).__name__}, got {raw!r}")
    return type(default)(value)
