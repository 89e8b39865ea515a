"""Transformer backbones from timm (``timm:vit_*``, ``timm:deit_*``, ``timm:swin_*``) as a trunk
and a "Conv5" that ends in a [N, D, h, w] feature map, so every method runs on them unchanged.

- **ViT and DeiT**: the trunk is the patch embedding, the class (and DeiT's distillation) token,
  the position embedding and every block but the last ``LAST_BLOCKS``; "Conv5" is those last
  blocks and the final norm, and returns the patch tokens reshaped to the patch grid (stride
  16 for /16 patches: 8x4 cells at 128x64, 16x8 at 256x128, 24x8 at 384x128). The prefix
  tokens run through the last blocks with the patches (attention sees them) and are dropped
  from the map. HPNet's unshared Conv5 becomes unshared copies of the last block and the final
  norm, initialised alike (as TransReID's jigsaw branch copies the last block); the patch
  embedding, tokens, position embedding and the other blocks are shared. With
  ``method.global_token`` (baseline, BPBReID) "Conv5" also returns the class token after the
  final norm, which then is the global embedding (TransReID's) instead of pooled patches.
- **Position embeddings** are resampled (bicubic, timm's ``dynamic_img_size``) from the
  checkpoint's grid to the input's patch grid at every forward, so one checkpoint serves any
  ReID input size; a checkpoint made at another size is resampled on loading by timm's own
  ``checkpoint_filter_fn``.
- **Swin**: the trunk is the patch embedding and every stage but the last; "Conv5" is the last
  stage and the final norm (stride 32: 4x2 cells at 128x64, 8x4 at 256x128), channels first.
  timm's ``strict_img_size=False`` lets the windows follow any input size.

The strides are the models' own: ``method.last_stride`` and ``conv4_stride`` apply to CNNs only.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import Tensor, nn

from benchmark.errors import ConfigError, UserError

LAST_BLOCKS = 1  # the ViT blocks that form "Conv5" (HPNet copies them per part)
# timm modules of each family and the options that free the input size
FAMILIES = {
    "timm.models.vision_transformer": ("vit", {"dynamic_img_size": True}),
    "timm.models.deit": ("vit", {"dynamic_img_size": True}),
    "timm.models.swin_transformer": ("swin", {"strict_img_size": False}),
}


def family(timm_name: str) -> tuple[str, dict] | None:
    """("vit" | "swin", create_model options) for a transformer, None for anything else."""
    from timm.models import _registry  # third-party; imported on use (timm loads slowly)

    module = _registry.model_entrypoint(timm_name).__module__
    return FAMILIES.get(module)


class ViTTrunk(nn.Module):
    """Patch embedding, prefix tokens, position embedding, all blocks but the last ones."""

    def __init__(self, model: Any, last: int) -> None:
        super().__init__()
        self.patch_embed: nn.Module = model.patch_embed
        self.model_pos = _PositionEmbedding(model)
        self.norm_pre: nn.Module = model.norm_pre
        self.blocks = nn.Sequential(*list(model.blocks)[:-last])
        self.num_prefix = int(model.num_prefix_tokens)

    def forward(self, images: Tensor) -> tuple[Tensor, int, int]:
        x = self.patch_embed(images)  # [N, gh, gw, D] (dynamic_img_size keeps the grid)
        gh, gw = int(x.shape[1]), int(x.shape[2])
        x = self.norm_pre(self.model_pos(x))  # [N, prefix + gh * gw, D]
        return self.blocks(x), gh, gw


class _PositionEmbedding(nn.Module):
    """timm's ``_pos_embed`` of the model (prefix tokens and resampled position embedding)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = [model]  # not a submodule: its parameters are registered below
        for name in ("cls_token", "reg_token", "pos_embed", "dist_token"):
            value = getattr(model, name, None)
            if isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
        self.pos_drop: nn.Module = model.pos_drop
        self.patch_drop: nn.Module = model.patch_drop

    def forward(self, x: Tensor) -> Tensor:
        return self.patch_drop(self.model[0]._pos_embed(x))


class ViTHead(nn.Module):
    """The last blocks and the final norm; patch tokens -> [N, D, gh, gw], and with
    ``class_token`` also the class token [N, D] (TransReID's global feature)."""

    def __init__(self, model: Any, last: int, class_token: bool = False) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*list(model.blocks)[-last:])
        self.norm: nn.Module = model.norm
        self.num_prefix = int(model.num_prefix_tokens)
        self.class_token = class_token

    def forward(self, packed: tuple[Tensor, int, int]) -> Tensor | tuple[Tensor, Tensor]:
        tokens, gh, gw = packed
        x = self.norm(self.blocks(tokens))
        patches = x[:, self.num_prefix :]  # [N, gh * gw, D]
        fmap = patches.transpose(1, 2).reshape(x.shape[0], x.shape[2], gh, gw)
        return (fmap, x[:, 0]) if self.class_token else fmap


class SwinTrunk(nn.Module):
    """Patch embedding and every stage but the last (channels last, as timm's Swin)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.patch_embed: nn.Module = model.patch_embed
        self.layers = nn.Sequential(*list(model.layers)[:-1])

    def forward(self, images: Tensor) -> Tensor:
        return self.layers(self.patch_embed(images))  # [N, H, W, C]


class SwinHead(nn.Module):
    """The last stage and the final norm; channels first."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.stage: nn.Module = list(model.layers)[-1]
        self.norm: nn.Module = model.norm

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.stage(x)).permute(0, 3, 1, 2)  # [N, C, H, W]


def set_patch_stride(model: Any, kind: str, stride: int, name: str) -> None:
    """Overlapping patches (TransReID): the patch embedding's convolution steps by ``stride``;
    the grid and the position embedding follow (``dynamic_img_size``)."""
    size = int(model.patch_embed.proj.kernel_size[0]) if kind == "vit" else 0
    if kind != "vit" or not 1 <= stride <= size:
        raise ConfigError(
            f"method.patch_stride={stride} needs a ViT/DeiT with patches of at least that size "
            f"({name!r}); leave it unset for this backbone"
        )
    model.patch_embed.proj.stride = (stride, stride)


def split_transformer(
    model: Any, kind: str, class_token: bool = False
) -> tuple[nn.Module, nn.Sequential, int]:
    """(trunk, "Conv5" as a one-module Sequential, output channels) of a timm transformer;
    ``class_token``: Conv5 returns (map, class token) (ViT/DeiT only)."""
    if kind == "vit":
        if len(model.blocks) <= LAST_BLOCKS:
            raise ConfigError(f"a ViT needs more than {LAST_BLOCKS} block(s) to split")
        if getattr(model, "cls_token", None) is None and class_token:
            raise ConfigError("method.global_token needs a ViT/DeiT with a class token")
        head: nn.Module = ViTHead(model, LAST_BLOCKS, class_token)
        trunk: nn.Module = ViTTrunk(model, LAST_BLOCKS)
        dim = int(model.embed_dim)
    else:
        trunk, head, dim = SwinTrunk(model), SwinHead(model), int(model.num_features)
    return trunk, nn.Sequential(head), dim


def filter_checkpoint(
    model: Any, state: dict[str, Tensor], path: object = "the checkpoint"
) -> dict[str, Tensor]:
    """timm's own conversion of a checkpoint for ``model`` (position grids resampled, old
    layouts renamed), where the model's module has one. A position grid of another size must be
    square (timm cannot tell a 16x8 grid from an 8x16 one): anything else is a one-line error."""
    pos, own = state.get("pos_embed"), getattr(model, "pos_embed", None)
    if isinstance(pos, Tensor) and isinstance(own, Tensor) and pos.shape != own.shape:
        cells = pos.shape[1] - (
            0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
        )
        if int(cells**0.5) ** 2 != cells:
            raise UserError(
                f"{path}: its position embedding holds a non-square grid of {cells} cells, which "
                f"cannot be resampled to the model's {tuple(own.shape)}; give the checkpoint of "
                "the model's own image size (e.g. 224x224)"
            )
    module = sys.modules[type(model).__module__]
    convert = getattr(module, "checkpoint_filter_fn", None)
    return convert(state, model) if convert is not None else state


def check_transformer(trunk: nn.Module, conv5: nn.Module, dim: int, name: str) -> None:
    """A small image through both halves: a [N, dim, h, w] map."""
    modes = [m.training for m in (trunk, conv5)]
    trunk.eval(), conv5.eval()
    try:
        with torch.no_grad():
            y = conv5(trunk(torch.zeros(1, 3, 128, 64)))
    finally:
        trunk.train(modes[0]), conv5.train(modes[1])
    y = y[0] if isinstance(y, tuple) else y  # (map, class token)
    if y.dim() != 4 or y.shape[1] != dim:
        raise ConfigError(f"timm model {name!r} gives no [N, {dim}, h, w] map ({tuple(y.shape)})")
