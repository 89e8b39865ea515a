"""Transformer backbones through timm: ViT/DeiT and Swin as trunk + "Conv5", every method,
local weights (position grids resampled), one training step, ONNX export."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from benchmark.config import apply_overrides, check_run_config
from benchmark.errors import ConfigError, UserError
from benchmark.export.onnx_graph import InferenceGraph, check_onnx, export_onnx
from benchmark.profiles import get_profile
from reid_methods import Batch, build_method
from reid_methods.backbone import build_backbone
from reid_methods.timm_transformers import LAST_BLOCKS, ViTHead

VIT, DEIT, SWIN = (
    "timm:vit_tiny_patch16_224",
    "timm:deit_tiny_patch16_224",
    "timm:swin_tiny_patch4_window7_224",
)


@pytest.fixture(scope="module")
def batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(4, 3, 128, 64, generator=g)
    labels = torch.randint(0, 5, (4, 128, 64), generator=g).to(torch.uint8)
    return Batch(images, torch.tensor([0, 0, 1, 1]), labels)


@pytest.mark.parametrize(("backbone", "grid"), [(DEIT, (8, 4)), (SWIN, (4, 2))])
@pytest.mark.parametrize("method", ["baseline", "hpnet", "bpbreid"])
def test_every_method_trains_one_step_on_a_transformer(method, backbone, grid, batch) -> None:
    torch.manual_seed(0)
    model = build_method(method, 3, backbone=backbone).train()
    out = model(batch.images)
    terms = model.loss(out, batch)
    total = sum(terms.values())
    assert torch.isfinite(total), terms
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        out = model(batch.images)
    assert out.features.shape[0] == 4 and out.visibility.shape == out.features.shape[:2]
    if out.masks is not None:
        assert tuple(out.masks.shape[-2:]) == grid, "the map is the patch grid of the input"


def test_the_patch_grid_follows_the_input_size() -> None:
    net = build_backbone(VIT)
    for size, grid in (((128, 64), (8, 4)), ((256, 128), (16, 8)), ((384, 128), (24, 8))):
        with torch.no_grad():
            fmap = net.conv5(net.trunk(torch.zeros(1, 3, *size)))
        assert fmap.shape == (1, net.dim, *grid)


def test_hpnet_copies_only_the_last_block_and_norm_per_part() -> None:
    torch.manual_seed(0)
    model = build_method("hpnet", 3, backbone=DEIT)
    depth = timm.create_model(DEIT.removeprefix("timm:"), pretrained=False).blocks.__len__()
    assert len(model.trunk.blocks) == depth - LAST_BLOCKS, "the other blocks are shared"
    heads = [branch[0] for branch in model.conv5]
    assert len(heads) == 4 and all(isinstance(h, ViTHead) for h in heads)
    assert all(len(h.blocks) == LAST_BLOCKS for h in heads)
    first = dict(heads[0].named_parameters())
    for other in heads[1:]:  # unshared, initialised alike
        for name, p in other.named_parameters():
            assert p is not first[name] and torch.equal(p, first[name])


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_load_and_a_grid_of_another_size_is_resampled(tmp_path, suffix) -> None:
    torch.manual_seed(1)
    name = VIT.removeprefix("timm:")
    source = timm.create_model(name, pretrained=False, img_size=160)  # a 10x10 grid
    path = tmp_path / f"vit{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    net = build_backbone(VIT, pretrained=str(path))
    assert torch.equal(net.trunk.patch_embed.proj.weight, source.patch_embed.proj.weight)
    assert torch.equal(net.conv5[0].blocks[0].mlp.fc1.weight, source.blocks[-1].mlp.fc1.weight)
    assert net.trunk.model_pos.pos_embed.shape == (1, 1 + 14 * 14, source.embed_dim), (
        "resampled to the model's own grid, then to each input's at forward"
    )
    reid = timm.create_model(name, pretrained=False, img_size=(256, 128))  # a 16x8 grid
    torch.save(reid.state_dict(), tmp_path / "reid.pth")
    with pytest.raises(UserError, match="non-square grid of 128 cells"):
        build_backbone(VIT, pretrained=str(tmp_path / "reid.pth"))


def test_swin_weights_load(tmp_path) -> None:
    torch.manual_seed(2)
    source = timm.create_model(SWIN.removeprefix("timm:"), pretrained=False)
    path = tmp_path / "swin.pth"
    torch.save(source.state_dict(), path)
    net = build_backbone(SWIN, pretrained=str(path))
    want = list(source.layers)[-1].blocks[0].attn.qkv.weight
    assert torch.equal(net.conv5[0].stage.blocks[0].attn.qkv.weight, want)


@pytest.mark.parametrize(
    ("method", "backbone", "options"),
    [("hpnet", DEIT, {}), ("baseline", SWIN, {}), ("bpbreid", DEIT, {"global_token": True})],
)
def test_transformer_models_export_to_onnx(tmp_path, method, backbone, options) -> None:
    torch.manual_seed(0)
    graph = InferenceGraph(build_method(method, 3, backbone=backbone, **options)).eval()
    images = torch.randn(11, 3, 128, 64)
    info = export_onnx(graph, images[:2], tmp_path / "m.onnx", "dynamo")
    check = check_onnx(tmp_path / "m.onnx", graph, images)
    assert check["max_abs_diff_features"] < 1e-3 and check["visibility_equal"], (info, check)


def test_overlapping_patches_give_transreids_finer_grid() -> None:
    torch.manual_seed(0)
    model = build_method("hpnet", 3, backbone=DEIT, patch_stride=12).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 128))
    assert out.masks.shape[-2:] == (21, 10), "(256 - 16) / 12 + 1 rows, (128 - 16) / 12 + 1 cols"
    with pytest.raises(ConfigError, match="patch_stride applies to ViT/DeiT"):
        build_method("baseline", 3, backbone="resnet18_quarter", patch_stride=12)
    with pytest.raises(ConfigError, match="needs a ViT/DeiT"):
        build_method("baseline", 3, backbone=DEIT, patch_stride=20)
    with pytest.raises(ConfigError, match="patch_stride applies to ViT/DeiT"):
        check_run_config(apply_overrides(get_profile("smoke"), ["method.patch_stride=12"]))


@pytest.mark.parametrize("method", ["baseline", "bpbreid"])
def test_the_global_branch_can_take_the_class_token(method, batch) -> None:
    torch.manual_seed(0)
    model = build_method(method, 3, backbone=DEIT, global_token=True).train()
    out = model(batch.images)
    total = sum(model.loss(out, batch).values())
    total.backward()
    cls = model.backbone[0].model_pos.cls_token
    assert cls.grad is not None and cls.grad.abs().sum() > 0, "the class token is trained"
    model.eval()
    with torch.no_grad():
        tokens, gh, gw = model.backbone[0](batch.images)
        head = model.backbone[1][0]
        want = head.norm(head.blocks(tokens))[:, 0]  # the class token after the final norm
        fmap, token = model.backbone(batch.images)
        torch.testing.assert_close(token, want)
        neck = model.neck if method == "baseline" else model.global_neck
        _, logits = neck(want)
        got = model(batch.images)
    assert fmap.shape == (4, head.norm.normalized_shape[0], gh, gw)
    if method == "baseline":  # the feature is the class token through the BNNeck
        torch.testing.assert_close(got.pre_bn[:, 0], want)
        torch.testing.assert_close(got.features[:, 0], neck(want)[0])
    else:
        torch.testing.assert_close(got.logits[:, 0], logits)  # GiLt's global identity term


def test_the_class_token_needs_a_vit() -> None:
    for backbone in (SWIN, "resnet18_quarter", "timm:resnet18"):
        with pytest.raises(ConfigError, match="global_token applies to ViT/DeiT"):
            build_method("baseline", 3, backbone=backbone, global_token=True)
    with pytest.raises(ConfigError, match="global_token applies to ViT/DeiT"):
        check_run_config(apply_overrides(get_profile("smoke"), ["method.global_token=true"]))
