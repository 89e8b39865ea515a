"""timm backbones: stage split, training step and output contract, weights from local files."""

from __future__ import annotations

import socket

import pytest
import timm
import torch
from torchvision.models import resnet18, resnet50

from benchmark.errors import ConfigError, UnknownNameError, UserError
from benchmark.training.pretrain_fit import trunk_state
from reid_methods import Batch, build_method
from reid_methods.backbone import build_backbone

# timm's own test models: a ResNet and a non-ResNet family (EfficientNet), a few hundred K params
FAMILIES = ("timm:test_resnet", "timm:test_efficientnet")


@pytest.fixture(scope="module")
def batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(8, 3, 64, 32, generator=g)
    labels = torch.randint(0, 5, (8, 64, 32), generator=g).to(torch.uint8)
    return Batch(images, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), labels)


def options(method: str, backbone: str) -> dict:
    return {"backbone": backbone} | ({"head_dim": 16} if method == "hpnet" else {})


def total_loss(model, batch: Batch) -> torch.Tensor:
    out = model(batch.images)
    terms = model.loss(out, batch)
    if out.masks is not None:
        terms |= model.coco_loss(model.parse(batch.images), batch.part_labels)
    return sum(terms.values())


@pytest.mark.parametrize("backbone", FAMILIES)
@pytest.mark.parametrize("method", ["hpnet", "baseline"])
def test_timm_backbone_trains_and_keeps_the_output_contract(method, backbone, batch) -> None:
    torch.manual_seed(0)
    ref = build_method(method, 5, **options(method, "resnet18_quarter")).eval()(batch.images)
    torch.manual_seed(0)
    model = build_method(method, 5, **options(method, backbone))
    opt = torch.optim.SGD(model.param_groups(0.01), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(4):  # the same batch: a working step lowers its loss
        loss = total_loss(model.train(), batch)
        opt.zero_grad(), loss.backward(), opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], f"{method}/{backbone}: loss did not fall: {losses}"
    out = model.eval()(batch.images)
    n, p, d = out.features.shape
    assert (n, p) == tuple(ref.features.shape[:2]), f"{method}/{backbone}: {out.features.shape}"
    assert out.visibility.shape == ref.visibility.shape, "visibility [N, P] as the built-in's"
    assert set(out.visibility.unique().tolist()) <= {0.0, 1.0}, "visibility must be binary"
    assert out.logits is not None and out.logits.shape == (n, p, 5)
    if method == "hpnet":  # output stride 16 like the built-in: the same 4x2 part maps
        assert out.masks.shape == ref.masks.shape, f"masks {out.masks.shape} vs {ref.masks.shape}"
        assert len(model.conv5) == 4, "HPNet keeps 4 unshared Conv5 copies"
        first = [p.data_ptr() for p in model.conv5[0].parameters()]
        assert not set(first) & {p.data_ptr() for p in model.conv5[1].parameters()}


@pytest.mark.parametrize(
    "name,stage,expected",
    [
        ("timm:test_resnet", ["layer4"], 96),
        ("timm:test_convnext", ["stages_3"], 64),
        ("timm:regnetx_002", ["s4"], 368),
        ("timm:test_byobnet", ["stages_3", "final_conv"], 256),
    ],
)
def test_last_stage_is_conv5_at_the_requested_stride(name, stage, expected) -> None:
    x = torch.randn(1, 3, 64, 32)
    for last, conv4, grid in [(2, 2, (2, 1)), (1, 2, (4, 2)), (1, 1, (8, 4))]:
        net = build_backbone(name, last, None, conv4)
        assert [n for n, _ in net.conv5.named_children()] == stage, f"{name}: Conv5 modules"
        assert net.dim == expected, f"{name}: Conv5 width {net.dim}"
        assert net.conv5(net.trunk(x)).shape[-2:] == grid, f"{name} strides {last}/{conv4}"


def test_torchvision_and_timm_resnet50_weights_load_alike(tmp_path) -> None:
    x = torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    sources = {"torchvision": resnet50().state_dict(), "timm": timm.create_model("resnet50")}
    sources["timm"] = sources["timm"].state_dict()
    assert sources["torchvision"].keys() == sources["timm"].keys(), "same architecture, names"
    for origin, state in sources.items():
        path = tmp_path / f"{origin}.pth"
        torch.save(state, path)
        ours = build_backbone("resnet50", 2, str(path))
        theirs = build_backbone("timm:resnet50", 2, str(path))
        for part in ("trunk", "conv5"):
            a, b = (getattr(net, part).state_dict().values() for net in (ours, theirs))
            for u, v in zip(a, b, strict=True):
                torch.testing.assert_close(u, v, rtol=0, atol=0, msg=f"{origin} {part}")
        with torch.no_grad():  # last stride 2: no dilation either way, the same function
            y1 = ours.conv5.eval()(ours.trunk.eval()(x))
            y2 = theirs.conv5.eval()(theirs.trunk.eval()(x))
        torch.testing.assert_close(y1, y2, msg=f"{origin}: outputs differ")
        ref = state["layer4.2.conv3.weight"]
        torch.testing.assert_close(theirs.conv5.layer4[2].conv3.weight, ref, rtol=0, atol=0)


def test_pretrain_trunk_format_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    net = build_backbone("timm:test_convnext", 1)
    path = tmp_path / "trunk.pt"
    torch.save(trunk_state(net.trunk, net.conv5), path)
    again = build_backbone("timm:test_convnext", 1, str(path))
    for a, b in ((net.trunk, again.trunk), (net.conv5, again.conv5)):
        for (k, u), v in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(u, v, rtol=0, atol=0, msg=k)


def test_local_weights_never_touch_the_network(tmp_path, monkeypatch) -> None:
    path = tmp_path / "r.pth"
    torch.save(timm.create_model("test_resnet").state_dict(), path)

    def refuse(*args, **kwargs):
        raise AssertionError("timm tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    net = build_backbone("timm:test_resnet", 1, str(path))
    assert net.dim == 96


def one_line_error(exc: type, match: str, *args) -> None:
    with pytest.raises(exc, match=match) as e:
        build_backbone(*args)
    assert "\n" not in str(e.value), f"not one line: {e.value}"


def test_bad_weights_and_names_are_one_line_errors(tmp_path) -> None:
    one_line_error(UserError, "not found", "timm:resnet18", 1, str(tmp_path / "none.pth"))
    other = tmp_path / "r18.pth"
    torch.save(resnet18().state_dict(), other)
    one_line_error(UserError, "do not match.*80 missing keys", "timm:resnet34", 1, str(other))
    one_line_error(UserError, "do not match.*size mismatch", "timm:resnet50", 1, str(other))
    half = tmp_path / "half.pth"
    torch.save({k: v for k, v in resnet18().state_dict().items() if "layer4" not in k}, half)
    one_line_error(UserError, "do not match.*missing keys", "timm:resnet18", 1, str(half))
    extra = tmp_path / "extra.pth"
    torch.save(resnet18().state_dict() | {"layer5.weight": torch.zeros(1)}, extra)
    one_line_error(UserError, "do not match.*unexpected keys", "timm:resnet18", 1, str(extra))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    one_line_error(UserError, "cannot read", "timm:resnet18", 1, str(junk))
    one_line_error(UnknownNameError, "closest: resnet50", "timm:resnt50", 1)
    one_line_error(ConfigError, "output stride", "timm:mobilenetv3_small_050", 1)
    one_line_error(ConfigError, "conv4_stride", "timm:test_resnet", 2, None, 1)


def test_a_headless_file_with_any_classifier_loads(tmp_path) -> None:
    torch.manual_seed(0)
    state = resnet18(num_classes=751).state_dict()
    # model-zoo files predate BN's num_batches_tracked: BN fills it in, as torchvision does
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    net = build_backbone("timm:resnet18", 1, str(path))
    torch.testing.assert_close(net.trunk.conv1.weight, state["conv1.weight"], rtol=0, atol=0)


def test_set_method_backbone_builds_the_timm_model_for_every_method() -> None:
    from dataclasses import replace

    from benchmark.config import apply_overrides, check_run_config
    from benchmark.profiles import get_profile
    from reid_methods.base import applicable_options

    smoke = replace(get_profile("smoke"), methods=("hpnet", "pcb", "baseline"))
    cfg = apply_overrides(smoke, ["method.backbone=timm:test_efficientnet"])
    check_run_config(cfg)
    for method in cfg.methods:
        model = build_method(method, 3, **applicable_options(method, cfg.method))
        assert model.cfg.backbone == "timm:test_efficientnet"
        names = {name.split(".")[-1] for name, _ in model.named_modules()}
        assert "blocks_4" in names and "conv_stem" in names, f"{method}: timm stages missing"


def test_a_bad_backbone_name_fails_when_the_config_is_checked() -> None:
    from dataclasses import replace

    from benchmark.config import apply_overrides, check_run_config
    from benchmark.profiles import get_profile

    smoke = replace(get_profile("smoke"), methods=("hpnet", "baseline"))
    for name, error in (("timm:resnt50", UnknownNameError), ("resnet19", ConfigError)):
        cfg = apply_overrides(smoke, [f"method.backbone={name}"])
        with pytest.raises(error) as caught:
            check_run_config(cfg)  # before any data is drawn or any model is built
        assert "\n" not in str(caught.value)
