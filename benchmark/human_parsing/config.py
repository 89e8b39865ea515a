"""ParseConfig: the part-segmentation training settings and their smoke / cpu / paper profiles."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import ConfigError
from benchmark.registry import Registry
from benchmark.settings import Scope, apply_assignments, check_fields, from_mapping
from reid_datasets.coco_densepose import SPLIT_FILES
from reid_methods.backbone import SPECS

SCOPE = Scope(kind="parse", noun="setting", example="iters=500")


@dataclass(frozen=True)
class ParseConfig:
    """Everything that determines a parser training run (recorded in config.json).

    The defaults are the ``cpu`` profile. Every field is checked on construction (type, range:
    ``benchmark.settings``); ``parse train --set KEY=VALUE`` sets any of them.

    Attributes:
        backbone: encoder name of ``methods.backbone`` (narrow ResNets for the cpu profile).
        pretrained: local ResNet state dict to start the encoder from, or None (from scratch).
        attention: DANet's position and channel attention on the stride-16 map (paper 4.2).
        height, width: input size; Market-1501 images are 128x64, COCO crops are resized to it.
        batch_size: COCO crops per step.
        iters: total optimiser steps (fixed, not wall time, so runs repeat across machines).
        chunk: steps per log row and checkpoint (the unit of resume).
        lr, weight_decay, warmup: AdamW with linear warm-up then poly decay (power 0.9).
        flip, photometric: paired augmentations of benchmark.loading.transforms.
        zoom_out: most extra scene per side around a COCO person box (0 = tight crops).
        seed: seeds the weights, the batches and the augmentations.
        coco_splits: DensePose annotation files to train on (train, val, minival).
        cache: keep decoded, resized crops in memory (small sets; off for real COCO).
        workers: DataLoader worker processes.
    """

    # 4x fewer FLOPs than half width; ample for 8 classes. A built-in ResNet: the decoder reads
    # its Conv2 features (a timm model's stages are not split that way)
    backbone: str = field(default="resnet18_quarter", metadata={"choices": tuple(SPECS)})
    pretrained: str | None = None
    attention: bool = True
    height: int = 128  # at least 32x16, checked below (the encoder's stride is 16)
    width: int = 64
    batch_size: int = field(default=32, metadata={"min": 1})
    iters: int = field(default=1200, metadata={"min": 1})
    chunk: int = field(default=100, metadata={"min": 1})
    # AdamW from scratch; SGD at 0.01 needs far more steps here
    lr: float = field(default=2e-3, metadata={"gt": 0.0})
    weight_decay: float = field(default=1e-4, metadata={"min": 0.0})
    # steps; keeps the first updates of a from-scratch BN net stable
    warmup: int = field(default=50, metadata={"min": 0})
    flip: bool = True
    photometric: bool = True
    # ReID boxes show margins around the person; tight COCO boxes do not
    zoom_out: float = field(default=0.5, metadata={"min": 0.0})
    seed: int = field(default=0, metadata={"min": 0})  # numpy seeds must be >= 0
    # the DensePose annotation files the loader knows
    coco_splits: tuple[str, ...] = field(
        default=("train",), metadata={"choices": tuple(SPLIT_FILES), "min_items": 1}
    )
    cache: bool = True
    # one worker: augmentation off the training thread, single-threaded ops
    workers: int = field(default=1, metadata={"min": 0})

    def __post_init__(self) -> None:
        check_fields(self, SCOPE)
        if self.height < 32 or self.width < 16:
            raise ConfigError("parse height/width must be at least 32x16 (stride-16 encoder)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        d = dataclasses.asdict(self)
        d["coco_splits"] = list(self.coco_splits)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParseConfig:
        """Inverse of ``to_dict``; an unknown key or a bad value is a one-line ConfigError."""
        return from_mapping(cls, d, SCOPE)


# smoke: seconds (tests, CI); cpu: a few minutes on 2 cores; paper: ResNet-50 on real COCO (GPU).
PROFILES: Registry[ParseConfig] = Registry("parse profile")
PROFILES.register(
    "smoke",
    ParseConfig(
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
)
PROFILES.register("cpu", ParseConfig())
PROFILES.register(
    "paper",
    ParseConfig(
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
)


def parse_profile(profile: str, overrides: Iterable[str] = ()) -> ParseConfig:
    """The ParseConfig of ``profile`` with ``KEY=VALUE`` overrides (values in JSON or bare text).

    Raises:
        UnknownNameError: unknown profile.
        ConfigError: a malformed assignment, unknown key or bad value (one line).
    """
    return apply_assignments(PROFILES.get(profile), overrides, SCOPE)
