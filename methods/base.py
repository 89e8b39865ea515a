"""Method contract: Output, Batch, MethodConfig, Method and the METHODS registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from benchmark.errors import ConfigError
from benchmark.registry import Registry


@dataclass
class Output:
    """What every method returns, in train and eval mode alike.

    Attributes:
        features: [N, P, D] test-time part features (after BN; eq. 1 and eq. 2 use them).
        visibility: [N, P] part visibility in {0, 1} (all ones for global/stripe methods).
        pre_bn: [N, P, D] features before BN (h; the triplet loss of eqs. 3-5 uses them).
        logits: [N, P, C] per-part identity logits, None when the classifiers are not run.
        masks: [N, P, H, W] parsing probabilities G, None for methods without parsing.
    """

    features: Tensor
    visibility: Tensor
    pre_bn: Tensor | None = None
    logits: Tensor | None = None
    masks: Tensor | None = None


@dataclass
class Batch:
    """A training batch.

    Attributes:
        images: [N, 3, H, W] normalised images.
        pids: [N] identity class indices in [0, C).
        part_labels: [N, H, W] uint8 4-part label maps at image size (0 background), or None.
    """

    images: Tensor
    pids: Tensor
    part_labels: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        labels = None if self.part_labels is None else self.part_labels.to(device)
        return Batch(self.images.to(device), self.pids.to(device), labels)


@dataclass(frozen=True)
class MethodConfig:
    """Fields every method has. Subclasses add their own (with a why-comment each)."""

    backbone: str = "resnet50"
    last_stride: int = 1  # paper 4.1: Conv5 stride 2 -> 1 keeps a finer part map
    conv4_stride: int = 2  # 1 halves the output stride again (small inputs: parts keep cells)
    pretrained: str | None = None  # local torchvision/timm state dict; never downloaded
    needs_part_labels: bool = False  # the trainer loads part-label PNGs when True
    needs_coco: bool = False  # the trainer adds a DensePose-COCO parsing stream when True
    new_layer_lr_mult: float = 2.0  # paper 4.1: 0.02 for new layers vs 0.01 backbone


class Method(nn.Module):
    """Base class of method plug-ins: forward -> Output, loss -> named terms."""

    cfg: MethodConfig

    def forward(self, images: Tensor) -> Output:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, out: Output, batch: Batch) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def coco_loss(self, out: Output, part_labels: Tensor) -> dict[str, Tensor]:
        """Loss of a DensePose-COCO parsing batch (eq. 10's last term); none by default."""
        return {}

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters trained at the backbone rate; the rest get ``new_layer_lr_mult``."""
        return list(self.backbone.parameters())  # type: ignore[attr-defined]

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Backbone at ``lr``, newly added layers at ``lr * new_layer_lr_mult`` (paper 4.1)."""
        base = {id(p) for p in self.backbone_parameters()}
        new = [p for p in self.parameters() if id(p) not in base]
        return [
            {"params": self.backbone_parameters(), "lr": lr, "name": "backbone"},
            {"params": new, "lr": lr * self.cfg.new_layer_lr_mult, "name": "new"},
        ]


METHODS: Registry[tuple[type[Method], MethodConfig]] = Registry(
    "method", plugin_hint="a third-party method must be imported with --plugin MODULE"
)


def register_method(name: str, cfg: MethodConfig) -> Callable[[type[Method]], type[Method]]:
    """Register a Method class with its default config under ``name``."""

    def wrap(cls: type[Method]) -> type[Method]:
        METHODS.register(name, (cls, cfg), base=name)
        return cls

    return wrap


def register_variant(name: str, base: str, **overrides: Any) -> None:
    """Register ``name`` as ``base`` with some config fields replaced (a value, not a class)."""
    cls, cfg = METHODS.get(base)
    METHODS.register(name, (cls, _replace(cfg, name, overrides)), base=base)


def _replace(cfg: MethodConfig, name: str, overrides: dict[str, Any]) -> MethodConfig:
    valid = [f.name for f in dataclasses.fields(cfg)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ConfigError(
            f"method {name!r} has no option {', '.join(unknown)}; valid options: {', '.join(valid)}"
        )
    return dataclasses.replace(cfg, **overrides)


def method_config(name: str, **overrides: Any) -> MethodConfig:
    """The resolved config of method ``name`` with ``overrides`` applied."""
    _, cfg = METHODS.get(name)
    return _replace(cfg, name, overrides)


def applicable_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``options`` that method ``name``'s config has (profile-wide settings).

    The others are meant for other methods of the run: ``benchmark.config`` has already refused
    a user's ``method.X`` that no selected method has, and type-checked every value.
    """
    fields = {f.name for f in dataclasses.fields(METHODS.get(name)[1])}
    return {k: v for k, v in options.items() if k in fields}


def build_method(name: str, num_classes: int, **overrides: Any) -> Method:
    """Build method ``name`` for ``num_classes`` identities; unknown option keys are an error."""
    cls, _ = METHODS.get(name)
    return cls(method_config(name, **overrides), num_classes)


def list_methods() -> list[str]:
    """Names of all registered methods and variants."""
    return METHODS.names()
