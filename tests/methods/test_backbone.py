"""Backbone: last stride, widths, local pretrained weights and their errors."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18

from benchmark.errors import UserError
from reid_methods.backbone import build_backbone


@pytest.mark.parametrize("stride,expected", [(1, (8, 4)), (2, (4, 2))])
def test_last_stride_sets_conv5_resolution(stride: int, expected: tuple[int, int]) -> None:
    net = build_backbone("resnet18_quarter", last_stride=stride)
    out = net.conv5(net.trunk(torch.randn(1, 3, 128, 64)))
    assert tuple(out.shape[-2:]) == expected, f"stride {stride} gives {tuple(out.shape[-2:])}"
    assert out.shape[1] == net.dim


def test_loads_torchvision_state_dict(tmp_path) -> None:
    torch.manual_seed(0)
    ref = resnet18()
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    net = build_backbone("resnet18", last_stride=1, pretrained=str(path))
    torch.testing.assert_close(net.trunk.conv1.weight, ref.conv1.weight)
    torch.testing.assert_close(net.conv5[1].conv2.weight, ref.layer4[1].conv2.weight)


def test_missing_or_mismatched_weights_are_user_errors(tmp_path) -> None:
    with pytest.raises(UserError, match="not found"):
        build_backbone("resnet18", pretrained=str(tmp_path / "nope.pth"))
    path = tmp_path / "r18.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(UserError, match="do not match") as e:
        build_backbone("resnet50", pretrained=str(path))
    assert "\n" not in str(e.value)


class _Payload:
    """A pickle that would run code when unpickled unsafely."""

    def __reduce__(self):
        return (print, ("unpickled unsafely",))


def test_refused_or_corrupt_weights_never_advise_the_unsafe_loader(tmp_path) -> None:
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": _Payload()}, evil)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(evil.read_bytes()[:40])
    for path in (evil, cut):
        with pytest.raises(UserError, match="never unpickled unsafely") as e:
            build_backbone("resnet18", pretrained=str(path))
        message = str(e.value)
        assert "\n" not in message and "weights_only" not in message, message
        assert str(path) in message, "the file is named"
