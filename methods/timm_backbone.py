"""Backbones from timm (``method.backbone=timm:NAME``): Conv1-4 as the trunk, the last stage Conv5.

A timm CNN lists its stages in ``feature_info`` (module name, channels, reduction). The modules
up to the second-to-last feature form the shared trunk; those after it up to the last feature
(the last stage, e.g. ResNet ``layer4``, RegNet ``s4``, ConvNeXt ``stages.3``, EfficientNet
``blocks.5``-``blocks.6``) form Conv5, which HPNet copies per part. The classifier head and any
final 1x1 conv after the last stage are dropped, as in timm's ``features_only``.

Last stride 1 is timm's ``output_stride=16``: timm keeps the last stage at 1/16 by setting its
first stride to 1 and dilating the blocks after it (DeepLab style); the built-in ResNets set the
stride to 1 without dilation (the paper's trick). Both load the same weights.

Weights never come from the network: the model is built with ``pretrained=False`` and a local
file is read through timm's own loader (``timm.models.load_state_dict``: torch ``weights_only``
or safetensors, ``state_dict``/``model`` wrappers and DDP prefixes handled).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmark.errors import ConfigError, UnknownNameError, UserError
from benchmark.state_files import tensor_dict
from reid_methods.timm_transformers import (
    check_transformer,
    family,
    filter_checkpoint,
    set_patch_stride,
    split_transformer,
)
from reid_methods.trunk import Backbone, check_weights_file

PREFIX = "timm:"
CONV5_PREFIX = "layer4."  # the split format (trunk keys + Conv5 keys under layer4.) of pretrain


def is_timm(name: str) -> bool:
    """Whether backbone ``name`` asks for a timm model (``timm:NAME``)."""
    return name.startswith(PREFIX)


def output_stride(last_stride: int, conv4_stride: int) -> int | None:
    """timm's ``output_stride`` for our strides; None keeps the model's own (32).

    timm sets one output stride for the whole net, so Conv4 at stride 1 needs Conv5 at 1 too.
    """
    strides = {(2, 2): None, (1, 2): 16, (1, 1): 8}
    if (last_stride, conv4_stride) not in strides:
        raise ConfigError(
            f"a timm backbone cannot take last_stride={last_stride} with conv4_stride="
            f"{conv4_stride}; use last_stride=1 with conv4_stride=1 (output stride 8)"
        )
    return strides[(last_stride, conv4_stride)]


def check_timm_name(name: str) -> None:
    """``name`` must be a timm model (one line with the closest names otherwise)."""
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UnknownNameError(
            f"unknown timm model {name!r}{hint}; see timm.list_models() for the names"
        )


def create_model(name: str, stride: int | None) -> nn.Module:
    """The timm model ``name`` with random weights and no classifier (never a download)."""
    import timm

    check_timm_name(name)
    kwargs: dict[str, Any] = {} if stride is None else {"output_stride": stride}
    try:
        return timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    except TypeError as e:
        if stride is None:
            raise
        raise ConfigError(
            f"timm model {name!r} cannot change its output stride ({e}); "
            "use method.last_stride=2 with method.conv4_stride=2"
        ) from e


def stage_units(model: nn.Module, targets: tuple[str, str]) -> list[tuple[str, nn.Module]]:
    """The model's modules in forward order, ``nn.Sequential`` holders of a target expanded.

    Args:
        model: a timm model whose features come from running its children in order.
        targets: the dotted module names of the last two features (``feature_info``).

    Returns:
        (dotted name, module) pairs; every target is one of the names.
    """

    def walk(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
        units = []
        for name, child in module.named_children():
            path = prefix + name
            if not any(t.startswith(path + ".") for t in targets):
                units.append((path, child))
            elif isinstance(child, nn.Sequential):
                units += walk(child, path + ".")
            else:
                raise ConfigError(
                    f"cannot split timm module {path!r} ({type(child).__name__}) into stages; "
                    "pick a CNN whose stages run in sequence (ResNet, RegNet, ConvNeXt, ...)"
                )
        return units

    return walk(model, "")


def split_stages(model: nn.Module, name: str) -> tuple[list, list, int, int]:
    """(trunk units, Conv5 units, trunk channels, Conv5 channels) from ``feature_info``."""
    info = getattr(model, "feature_info", None)
    if not isinstance(info, list) or len(info) < 2:
        raise ConfigError(
            f"timm model {name!r} lists no stages (feature_info); pick a CNN with stages"
        )
    last, before = info[-1], info[-2]
    units = stage_units(model, (before["module"], last["module"]))
    names = [path for path, _ in units]
    if before["module"] not in names or last["module"] not in names:
        raise ConfigError(f"timm model {name!r}: its last stages are not modules run in order")
    cut, end = names.index(before["module"]) + 1, names.index(last["module"]) + 1
    return units[:cut], units[cut:end], int(before["num_chs"]), int(last["num_chs"])


def sequential(units: list[tuple[str, nn.Module]]) -> nn.Sequential:
    """The units as one Sequential; names keep their path with ``_`` for ``.`` (timm's style)."""
    seq = nn.Sequential()
    for path, module in units:
        seq.add_module(path.replace(".", "_"), module)
    return seq


def check_chain(trunk: nn.Module, conv5: nn.Module, dims: tuple[int, int], name: str) -> None:
    """Run a small image through trunk and Conv5: 4-D maps with ``feature_info``'s channels."""
    modes = [m.training for m in (trunk, conv5)]
    trunk.eval(), conv5.eval()
    try:
        with torch.no_grad():
            x = trunk(torch.zeros(1, 3, 64, 64))
            y = conv5(x)
    except Exception as e:  # noqa: BLE001 - any failure means the stages do not chain
        raise ConfigError(
            f"timm model {name!r} does not run as a chain of stages ({type(e).__name__}); "
            "pick a CNN whose stages run in sequence (ResNet, RegNet, ConvNeXt, ...)"
        ) from e
    finally:
        trunk.train(modes[0]), conv5.train(modes[1])
    if x.dim() != 4 or y.dim() != 4 or (x.shape[1], y.shape[1]) != dims:
        raise ConfigError(
            f"timm model {name!r} gives no [N, C, H, W] stage maps of {dims} channels; "
            "pick a convolutional network"
        )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` through timm's reader (weights only, never unpickled unsafely)."""
    from timm.models import load_state_dict

    check_weights_file(path)
    todo = "give a torch state dict or a .safetensors file"
    try:
        state = load_state_dict(str(path), use_ema=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read pretrained weights {path}: {first}; {todo}") from e
    if not isinstance(state, dict):
        raise UserError(f"pretrained weights {path} hold a {type(state).__name__}; {todo}")
    return tensor_dict(state, path, "pretrained weights", todo)


def _first_error(e: RuntimeError) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__


def _mismatch(path: Path, name: str, detail: str) -> UserError:
    return UserError(
        f"pretrained weights {path} do not match timm model {name!r}: {detail}; "
        "pick the checkpoint of the same architecture"
    )


def load_split(trunk: nn.Module, conv5: nn.Module, state: dict, path: Path, name: str) -> None:
    """Weights saved as trunk keys plus Conv5 keys under ``layer4.`` (the synthetic pretrain)."""
    conv5_state = {
        k.removeprefix(CONV5_PREFIX): v for k, v in state.items() if k.startswith(CONV5_PREFIX)
    }
    trunk_state = {k: v for k, v in state.items() if not k.startswith(CONV5_PREFIX)}
    for module, weights in ((trunk, trunk_state), (conv5, conv5_state)):
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            raise _mismatch(path, name, _first_error(e)) from e


def load_full(model: nn.Module, used: list[str], state: dict, path: Path, name: str) -> None:
    """A timm (or torchvision, same names) state dict of the whole model; the head is ignored.

    Every weight of the used modules (dotted names ``used``) must be in the file, and the file
    may hold nothing the model lacks but its classifier (any number of classes).
    """
    # timm sets pretrained_cfg as a plain dict; torch types Module attributes Tensor | Module
    heads = model.pretrained_cfg.get("classifier") or ()  # type: ignore[union-attr, operator]
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    state = {k: v for k, v in state.items() if not any(k.startswith(h + ".") for h in heads)}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise _mismatch(path, name, _first_error(e)) from e
    prefixes = tuple(u + "." for u in used)
    missing = [k for k in result.missing_keys if k.startswith(prefixes)]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        detail = ", ".join(
            f"{len(keys)} {what} keys (first: {keys[0]})"
            for what, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        )
        raise _mismatch(path, name, detail)


def build_timm_transformer(
    timm_name: str,
    kind: str,
    options: dict,
    pretrained: str | None,
    patch_stride: int | None,
    class_token: bool = False,
) -> Backbone:
    """A timm ViT/DeiT/Swin split as ``methods.timm_transformers`` describes."""
    import timm  # third-party; imported on use (timm loads slowly)

    model = timm.create_model(timm_name, pretrained=False, num_classes=0, **options)
    if pretrained:
        path = Path(pretrained)
        state = filter_checkpoint(model, read_weights(path), path)
        heads = model.pretrained_cfg.get("classifier") or ()  # type: ignore[union-attr, operator]
        heads = (heads,) if isinstance(heads, str) else tuple(heads)
        state = {k: v for k, v in state.items() if not any(k.startswith(h + ".") for h in heads)}
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as e:
            raise _mismatch(path, timm_name, _first_error(e)) from e
        unused = ("head.", "fc_norm.", "head_dist.")  # classifier parts the backbone drops
        missing = [k for k in result.missing_keys if not k.startswith(unused)]
        keys = [
            (w, k) for w, k in (("missing", missing), ("unexpected", result.unexpected_keys)) if k
        ]
        if keys:
            detail = ", ".join(f"{len(k)} {w} keys (first: {k[0]})" for w, k in keys)
            raise _mismatch(path, timm_name, detail)
    if patch_stride is not None:
        set_patch_stride(model, kind, patch_stride, timm_name)
    if class_token and kind != "vit":
        raise ConfigError(f"method.global_token applies to ViT/DeiT backbones, not {timm_name!r}")
    trunk, conv5, dim = split_transformer(model, kind, class_token)
    check_transformer(trunk, conv5, dim, timm_name)
    return Backbone(trunk, conv5, dim)


def build_timm_backbone(
    name: str,
    last_stride: int = 1,
    pretrained: str | None = None,
    conv4_stride: int = 2,
    patch_stride: int | None = None,
    class_token: bool = False,
) -> Backbone:
    """Backbone ``timm:NAME`` split into trunk and Conv5 (see the module doc).

    Args:
        name: ``timm:`` followed by a timm model name, e.g. ``timm:resnet50``.
        last_stride: 1 asks timm for output stride 16 (8 with ``conv4_stride`` 1).
        pretrained: a local file of the model's weights (timm or torchvision names), or the
            trunk/Conv5 file of ``python -m benchmark pretrain``; None keeps timm's random init.
        conv4_stride: 1 (with last_stride 1) gives output stride 8.
        patch_stride: a ViT/DeiT's patch stride (``methods.timm_transformers``).
        class_token: a ViT/DeiT's Conv5 also returns its class token.
    """
    timm_name = name.removeprefix(PREFIX)
    check_timm_name(timm_name)
    transformer = family(timm_name)
    if transformer is not None:  # strides are the model's own (methods.timm_transformers)
        return build_timm_transformer(
            timm_name, *transformer, pretrained, patch_stride, class_token
        )
    for option, value in (("patch_stride", patch_stride), ("global_token", class_token)):
        if value not in (None, False):
            raise ConfigError(f"method.{option} applies to ViT/DeiT backbones, not {timm_name!r}")
    stride = output_stride(last_stride, conv4_stride)
    model = create_model(timm_name, stride)
    trunk_units, conv5_units, c4, c5 = split_stages(model, timm_name)
    # timm's feature_info is a FeatureInfo list; torch types Module attributes Tensor | Module
    if stride is not None and model.feature_info[-1]["reduction"] != stride:  # type: ignore[index]
        raise ConfigError(
            f"timm model {timm_name!r} ignored output_stride={stride}; "
            "use method.last_stride=2 with method.conv4_stride=2"
        )
    trunk, conv5 = sequential(trunk_units), sequential(conv5_units)
    if pretrained:
        path = Path(pretrained)
        state = read_weights(path)
        split_keys = {*trunk.state_dict(), *(CONV5_PREFIX + k for k in conv5.state_dict())}
        if set(state) == split_keys:
            load_split(trunk, conv5, state, path, timm_name)
        else:
            used = [p for p, _ in (*trunk_units, *conv5_units)]
            load_full(model, used, state, path, timm_name)
    check_chain(trunk, conv5, (c4, c5), timm_name)
    return Backbone(trunk, conv5, c5)
