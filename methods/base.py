"""Method contract: Output, Batch, MethodConfig, Method and the METHODS registry (with display)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
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
        logits: [N, L, C] identity logits of the method's classifiers (L = P for HPNet and PCB,
            one per part; BPBReID: its three holistic embeddings), None when not run.
        masks: [N, M, H, W] parsing probabilities G of the last M parts of ``features`` (M = P
            for HPNet; a method whose first entries are holistic, e.g. BPBReID's foreground,
            has fewer maps than parts), None for methods without parsing. A cell belongs to a
            part where G > 0.5.
        extras: method-specific training tensors its ``loss`` reads (e.g. pixel part scores).
    """

    features: Tensor
    visibility: Tensor
    pre_bn: Tensor | None = None
    logits: Tensor | None = None
    masks: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)


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

    # a built-in ResNet (methods.backbone.SPECS) or timm:NAME, any timm CNN with stages
    backbone: str = "resnet50"
    last_stride: int = 1  # paper 4.1: Conv5 stride 2 -> 1 keeps a finer part map
    conv4_stride: int = 2  # 1 halves the output stride again (small inputs: parts keep cells)
    # local torchvision/timm state dict (never downloaded), or "synthetic": the trunk pretrained
    # on a disjoint synthetic task, shared by every method (benchmark.training.pretrain)
    pretrained: str | None = None
    # ViT/DeiT only: the patch embedding's stride; below the patch size the patches overlap
    # (TransReID: 12 for /16 patches) for a finer map; None keeps the patch size
    patch_stride: int | None = field(default=None, metadata={"min": 1})
    needs_part_labels: bool = False  # the trainer loads part-label PNGs when True
    needs_coco: bool = False  # the trainer adds a DensePose-COCO parsing stream when True
    new_layer_lr_mult: float = 2.0  # paper 4.1: 0.02 for new layers vs 0.01 backbone
    trains: bool = True  # False: a training-free method, evaluated as built (no fit, no weights)


class Method(nn.Module):
    """Base class of method plug-ins: forward -> Output, loss -> named terms."""

    cfg: MethodConfig

    def forward(self, images: Tensor) -> Output:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, out: Output, batch: Batch) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def parse(self, images: Tensor) -> Tensor:
        """Parsing probabilities G [N, P, H, W] of a COCO batch, for ``coco_loss``.

        Methods with parsing heads override it to stop before their BN necks (the official
        code's COCO forward), so the necks' running statistics see only ReID images.
        """
        masks = self(images).masks
        if masks is None:
            raise NotImplementedError(f"{type(self).__name__} predicts no parsing masks")
        return masks

    def coco_loss(self, masks: Tensor, part_labels: Tensor) -> dict[str, Tensor]:
        """Loss of a DensePose-COCO parsing batch (eq. 10's last term) on ``parse``'s G."""
        return {}

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters trained at the backbone rate; the rest get ``new_layer_lr_mult``."""
        # a subclass sets self.backbone; torch types Module attributes as Tensor | Module
        return list(self.backbone.parameters())  # type: ignore[union-attr]

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Backbone at ``lr``, newly added layers at ``lr * new_layer_lr_mult`` (paper 4.1)."""
        base = {id(p) for p in self.backbone_parameters()}
        new = [p for p in self.parameters() if id(p) not in base]
        return [
            {"params": self.backbone_parameters(), "lr": lr, "name": "backbone"},
            {"params": new, "lr": lr * self.cfg.new_layer_lr_mult, "name": "new"},
        ]


@dataclass(frozen=True)
class RowDisplay:
    """How tables and figures show one row of a method (with or without visibility).

    Attributes:
        label: Markdown and figure label, e.g. "HPNet, share Conv5".
        latex: LaTeX label; None shows ``label`` with LaTeX special characters escaped.
        table: the paper table whose main rows it is part of ("table4"), or None.
        order: place among the rows, lower first (the paper's Table 4 order); None places it
            after the built-ins, by name.
    """

    label: str
    latex: str | None = None
    table: str | None = None
    order: int | None = None

    def without_vis(self) -> RowDisplay:
        """The default "test w/o vis" row: the same label marked, right below this row."""
        suffix = ", test w/o vis"
        latex = None if self.latex is None else self.latex + suffix
        return RowDisplay(self.label + suffix, latex, None, self.order)


METHODS: Registry[tuple[type[Method], MethodConfig]] = Registry(
    "method", plugin_hint="a third-party method must be imported with --plugin MODULE"
)


REFERENCE = "baseline"  # what a method is compared with unless it names its own reference


def _display_meta(
    name: str,
    label: str | None,
    latex: str | None,
    table: str | None,
    order: int | None,
    in_all: bool,
    wo_vis: RowDisplay | None,
    reference: str | None,
) -> dict[str, Any]:
    row = RowDisplay(label or name, latex, table, order)
    reference = None if reference == name else reference
    wo_vis = wo_vis or row.without_vis()
    return {"row": row, "wo_vis": wo_vis, "in_all": in_all, "reference": reference}


def register_method(
    name: str,
    cfg: MethodConfig,
    *,
    label: str | None = None,
    latex: str | None = None,
    table: str | None = None,
    order: int | None = None,
    in_all: bool = False,
    wo_vis: RowDisplay | None = None,
    reference: str | None = REFERENCE,
) -> Callable[[type[Method]], type[Method]]:
    """Register a Method class with its default config and display metadata under ``name``.

    Args:
        name: registry key.
        cfg: the default config.
        label, latex, table, order: how its row shows (see ``RowDisplay``); label defaults to
            ``name``.
        in_all: whether ``run --methods all`` trains it.
        wo_vis: its "test w/o vis" row; default: ``label`` marked, right below its own row.
        reference: the method its paired differences are measured against (the
            "differences" table); default the baseline, None for none.
    """
    meta = _display_meta(name, label, latex, table, order, in_all, wo_vis, reference)

    def wrap(cls: type[Method]) -> type[Method]:
        METHODS.register(name, (cls, cfg), base=name, **meta)
        return cls

    return wrap


def register_variant(
    name: str,
    base: str,
    *,
    label: str | None = None,
    latex: str | None = None,
    table: str | None = None,
    order: int | None = None,
    in_all: bool = False,
    wo_vis: RowDisplay | None = None,
    reference: str | None = None,
    **overrides: Any,
) -> None:
    """Register ``name`` as ``base`` with some config fields replaced (a value, not a class).

    The display arguments are those of ``register_method``; the rest are config overrides.
    ``reference`` defaults to ``base``: an ablation is measured against the full method.
    """
    cls, cfg = METHODS.get(base)
    meta = _display_meta(name, label, latex, table, order, in_all, wo_vis, reference or base)
    METHODS.register(name, (cls, _replace(cfg, name, overrides)), base=base, **meta)


def method_row(name: str, vis: bool = True) -> RowDisplay:
    """How method ``name``'s row shows; an unregistered name shows as itself, after the rest."""
    if name in METHODS:
        return METHODS.meta(name)["row" if vis else "wo_vis"]
    row = RowDisplay(name)
    return row if vis else row.without_vis()


def method_reference(name: str) -> str | None:
    """The method ``name`` is compared with: its registered reference (a variant: its base);
    an unregistered name (a plug-in not imported) gets the baseline."""
    if name in METHODS:
        return METHODS.meta(name)["reference"]
    return None if name == REFERENCE else REFERENCE


def all_methods() -> list[str]:
    """The methods ``run --methods all`` trains (registered with ``in_all``), in row order."""
    chosen = [name for name in METHODS if METHODS.meta(name)["in_all"]]
    return sorted(chosen, key=lambda name: _place(METHODS.meta(name)["row"].order))


def _place(order: int | None) -> tuple[bool, int]:
    return (order is None, order or 0)


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
