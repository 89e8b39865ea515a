"""ResNet backbones with a configurable last stride and width, or any timm CNN (``timm:NAME``).

Weights come only from local files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from benchmark.errors import ConfigError, UserError
from benchmark.state_files import load_state, tensor_dict
from reid_methods.base import MethodConfig
from reid_methods.timm_backbone import build_timm_backbone, check_timm_name
from reid_methods.timm_transformers import family
from reid_methods.trunk import Backbone, check_weights_file


@dataclass(frozen=True)
class ResNetSpec:
    """Block type ("basic" or "bottleneck"), blocks per stage and stage widths (torchvision
    naming)."""

    kind: str
    layers: tuple[int, int, int, int]
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)

    @property
    def block(self) -> type[nn.Module]:
        """torchvision's block class (imported on use: its import costs a second per command)."""
        from torchvision.models.resnet import BasicBlock, Bottleneck

        return BasicBlock if self.kind == "basic" else Bottleneck


# The standard depths load torchvision/timm state dicts; the narrow ones exist for the cpu
# profile (half/quarter width cut the FLOPs about 4x/16x at the same resolution).
SPECS = {
    "resnet18": ResNetSpec("basic", (2, 2, 2, 2)),
    "resnet34": ResNetSpec("basic", (3, 4, 6, 3)),
    "resnet50": ResNetSpec("bottleneck", (3, 4, 6, 3)),
    "resnet18_half": ResNetSpec("basic", (2, 2, 2, 2), (32, 64, 128, 256)),
    "resnet18_quarter": ResNetSpec("basic", (2, 2, 2, 2), (16, 32, 64, 128)),
}


class ResNetTrunk(nn.Module):
    """Conv1-Conv4 of a ResNet (shared by every branch); ``conv5`` is built separately."""

    def __init__(self, spec: ResNetSpec, conv4_stride: int = 2) -> None:
        super().__init__()
        self.inplanes = spec.widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_stage(self, spec.block, spec.widths[0], spec.layers[0], 1)
        self.layer2 = make_stage(self, spec.block, spec.widths[1], spec.layers[1], 2)
        self.layer3 = make_stage(self, spec.block, spec.widths[2], spec.layers[2], conv4_stride)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))  # [N, C4, H/16, W/16] (H/8 if stride 1)


def make_stage(
    owner: ResNetTrunk, block: type[nn.Module], planes: int, blocks: int, stride: int
) -> nn.Sequential:
    """One ResNet stage; ``owner.inplanes`` tracks the running channel count (torchvision)."""
    expansion = block.expansion  # type: ignore[attr-defined]
    downsample = None
    if stride != 1 or owner.inplanes != planes * expansion:
        downsample = nn.Sequential(
            nn.Conv2d(owner.inplanes, planes * expansion, 1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * expansion),
        )
    layers = [block(owner.inplanes, planes, stride, downsample)]
    owner.inplanes = planes * expansion
    layers += [block(owner.inplanes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def check_backbone(name: str) -> None:
    """A built-in ResNet name or ``timm:NAME`` of a timm model; else a one-line error.

    Cheap enough to run when a configuration is checked, before any data work.
    """
    if name.startswith("timm:"):
        check_timm_name(name.removeprefix("timm:"))
    elif name not in SPECS:
        raise ConfigError(
            f"unknown backbone {name!r}; valid backbones: {', '.join(SPECS)}, or timm:NAME "
            "for a timm CNN, ViT, DeiT or Swin (e.g. timm:resnet50, timm:vit_small_patch16_224)"
        )


def check_vit_option(name: str, option: str) -> None:
    """``method.patch_stride`` and ``method.global_token`` need a ViT/DeiT backbone: a one-line
    error otherwise (checked with the configuration, before any data work)."""
    transformer = family(name.removeprefix("timm:")) if name.startswith("timm:") else None
    if transformer is None or transformer[0] != "vit":
        raise ConfigError(f"method.{option} applies to ViT/DeiT backbones, not {name!r}")


def split_class_token(out: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor | None]:
    """Conv5's output as (map [N, D, h, w], class token [N, D] or None): a ViT/DeiT built with
    ``class_token`` returns both (``methods.timm_transformers``), every other Conv5 a map."""
    return out if isinstance(out, tuple) else (out, None)


def build_backbone(
    name: str,
    last_stride: int = 1,
    pretrained: str | None = None,
    conv4_stride: int = 2,
    patch_stride: int | None = None,
    class_token: bool = False,
) -> Backbone:
    """Build backbone ``name``; ``last_stride`` 1 keeps Conv5 at 1/16 (paper section 4.1).

    Args:
        name: one of ``SPECS``, or ``timm:NAME`` for a timm CNN (``methods.timm_backbone``).
        last_stride: stride of the first Conv5 block (1 or 2).
        pretrained: path of a local torchvision or timm state dict, or None.
        conv4_stride: stride of the first Conv4 block; 1 (with last_stride 1) gives a 1/8 map,
            which keeps every body part on several cells at small input sizes.
        patch_stride: a ViT/DeiT's patch stride (overlapping patches); a one-line error for
            any other backbone.
        class_token: Conv5 returns (map, class token) (ViT/DeiT; a one-line error otherwise).
    """
    if last_stride not in (1, 2) or conv4_stride not in (1, 2):
        raise ConfigError(f"strides must be 1 or 2, got {last_stride} and {conv4_stride}")
    check_backbone(name)
    if name.startswith("timm:"):
        return build_timm_backbone(
            name, last_stride, pretrained, conv4_stride, patch_stride, class_token
        )
    for option, value in (("patch_stride", patch_stride), ("global_token", class_token)):
        if value not in (None, False):
            check_vit_option(name, option)
    spec = SPECS[name]
    trunk = ResNetTrunk(spec, conv4_stride)
    conv5 = make_stage(trunk, spec.block, spec.widths[3], spec.layers[3], last_stride)
    init_weights(trunk)
    init_weights(conv5)
    if pretrained:
        load_pretrained(trunk, conv5, Path(pretrained))
    return Backbone(trunk, conv5, spec.widths[3] * spec.block.expansion)  # type: ignore[attr-defined]


def init_weights(module: nn.Module) -> None:
    """Kaiming init for convolutions, unit BN (torchvision's ResNet init)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def load_pretrained(trunk: nn.Module, conv5: nn.Module, path: Path) -> None:
    """Load a torchvision/timm ResNet state dict (``fc.*`` ignored); a mismatch is a UserError."""
    check_weights_file(path)
    todo = "give a torchvision or timm ResNet state dict file"
    state = tensor_dict(
        load_state(path, "pretrained weights", todo), path, "pretrained weights", todo
    )
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    trunk_state = {k: v for k, v in state.items() if not k.startswith("layer4.")}
    conv5_state = {
        k.removeprefix("layer4."): v for k, v in state.items() if k.startswith("layer4.")
    }
    for part, sub in (("conv1-conv4", (trunk, trunk_state)), ("conv5", (conv5, conv5_state))):
        module, weights = sub
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
            raise UserError(
                f"pretrained weights {path} do not match the backbone ({part}): {first}; "
                "pick the checkpoint of the same ResNet depth"
            ) from e


def method_backbone(cfg: MethodConfig, class_token: bool = False) -> Backbone:
    """``build_backbone`` from a method configuration's backbone fields."""
    return build_backbone(
        cfg.backbone,
        cfg.last_stride,
        cfg.pretrained,
        cfg.conv4_stride,
        cfg.patch_stride,
        class_token,
    )
