"""Contract tests over every registered method: output type, shapes, losses, variants."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.errors import ConfigError, UnknownNameError
from reid_methods import Batch, Output, build_method, list_methods, method_config
from reid_methods.base import all_methods, method_row

SMALL = {"backbone": "resnet18_quarter"}


def small_options(name: str) -> dict:
    fields = {f.name for f in dataclasses.fields(method_config(name))}
    extra = {"head_dim": 16, "reduce_dim": 32}
    return SMALL | {k: v for k, v in extra.items() if k in fields}


@pytest.fixture(scope="module")
def batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(8, 3, 128, 64, generator=g)
    labels = torch.randint(0, 5, (8, 128, 64), generator=g).to(torch.uint8)
    return Batch(images, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), labels)


def test_all_paper_names_registered() -> None:
    expected = {
        "baseline",
        "pcb",
        "hpnet",
        "hpnet_share_conv5",
        "hpnet_wo_triplet",
        "hpnet_wo_coco",
    }
    assert expected <= set(list_methods()), f"missing methods: {expected - set(list_methods())}"


@pytest.mark.parametrize("name", list_methods())
def test_output_contract(name: str, batch: Batch) -> None:
    torch.manual_seed(0)
    model = build_method(name, 5, **small_options(name))
    for train in (True, False):
        model.train(train)
        out = model(batch.images)
        assert isinstance(out, Output), f"{name} must return Output"
        n, p, d = out.features.shape
        assert n == 8 and out.visibility.shape == (n, p), (
            f"{name}: visibility shape {out.visibility.shape}"
        )
        assert set(out.visibility.unique().tolist()) <= {0.0, 1.0}, f"{name}: visibility not binary"
        if method_config(name).trains:  # identity logits: per part, or per holistic embedding
            assert out.logits is not None and out.logits.shape[::2] == (n, 5), f"{name}: logits"
        if out.masks is not None:  # the visibility contract: a part is visible where G > 0.5
            m = out.masks.shape[1]
            assert out.masks.shape[0] == n and 1 <= m <= p, f"{name}: masks {out.masks.shape}"
            shown = (out.masks > 0.5).amax(dim=(2, 3)).to(out.visibility.dtype)
            assert torch.equal(out.visibility[:, p - m :], shown), f"{name}: visibility vs masks"


TRAINED = [name for name in list_methods() if method_config(name).trains]


@pytest.mark.parametrize("name", TRAINED)
def test_losses_finite_and_backpropagate(name: str, batch: Batch) -> None:
    torch.manual_seed(0)
    model = build_method(name, 5, **small_options(name)).train()
    out = model(batch.images)
    terms = model.loss(out, batch)
    if out.masks is not None:
        terms |= model.coco_loss(model.parse(batch.images), batch.part_labels)
    assert terms, f"{name} returned no loss terms"
    total = sum(terms.values())
    assert torch.isfinite(total), f"{name}: non-finite loss {terms}"
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads), f"{name}: bad gradients"


@pytest.mark.parametrize("name", sorted(set(list_methods()) - set(TRAINED)))
def test_training_free_methods_have_nothing_to_train(name: str, batch: Batch) -> None:
    model = build_method(name, 5, **small_options(name))
    assert not any(p.requires_grad for p in model.parameters()), f"{name} has weights to fit"
    assert model.param_groups(0.01) == [] and model.loss(model(batch.images), batch) == {}


def test_variants_differ_from_hpnet_only_in_their_field() -> None:
    base = method_config("hpnet")
    assert method_config("hpnet_share_conv5") == dataclasses.replace(base, share_conv5=True)
    assert method_config("hpnet_wo_triplet") == dataclasses.replace(base, triplet_weight=0.0)
    wo_coco = dataclasses.replace(base, coco_weight=0.0, needs_coco=False)
    assert method_config("hpnet_wo_coco") == wo_coco
    assert base.focal_alpha == 0.25, "eq. (8): the paper's alpha"
    assert method_config("hpnet_alpha05") == dataclasses.replace(base, focal_alpha=0.5)
    assert "hpnet_alpha05" not in all_methods(), "not the paper's recipe: named on request only"
    assert "not the paper's" in method_row("hpnet_alpha05").label


def test_hpnet_loss_terms_follow_eq10(batch: Batch) -> None:
    model = build_method("hpnet", 5, **small_options("hpnet")).train()
    out = model(batch.images)
    assert set(model.loss(out, batch)) == {"id", "triplet", "parsing"}
    assert set(model.coco_loss(out.masks, batch.part_labels)) == {"coco_parsing"}
    wo = build_method("hpnet_wo_triplet", 5, **small_options("hpnet")).train()
    assert "triplet" not in wo.loss(wo(batch.images), batch), "lambda_tri = 0 must drop the term"
    wo_coco = build_method("hpnet_wo_coco", 5, **small_options("hpnet"))
    assert wo_coco.coco_loss(out.masks, batch.part_labels) == {}


def test_unshared_conv5_copies_start_equal() -> None:
    model = build_method("hpnet", 5, **small_options("hpnet"))
    first = model.conv5[0].state_dict()
    assert len(model.conv5) == 4, "HPNet has 4 unshared Conv5 branches"
    for branch in model.conv5[1:]:
        for k, v in branch.state_dict().items():
            torch.testing.assert_close(v, first[k], msg=f"branch {k} initialised differently")
        assert branch[0].conv1.weight.data_ptr() != model.conv5[0][0].conv1.weight.data_ptr()
    assert len(build_method("hpnet_share_conv5", 5, **small_options("hpnet")).conv5) == 1


def test_param_groups_new_layers_double_rate() -> None:
    model = build_method("hpnet", 5, **small_options("hpnet"))
    groups = {g["name"]: g for g in model.param_groups(0.01)}
    assert groups["backbone"]["lr"] == 0.01 and groups["new"]["lr"] == pytest.approx(0.02)
    n_all = sum(1 for _ in model.parameters())
    assert len(groups["backbone"]["params"]) + len(groups["new"]["params"]) == n_all


def test_unknown_method_and_option_are_one_line_errors() -> None:
    with pytest.raises(UnknownNameError, match="did you mean hpnet") as e:
        build_method("hpnte", 5)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="no option share_conv"):
        build_method("hpnet", 5, share_conv=True)


def test_parsing_heads_start_as_the_official_code(batch: Batch) -> None:
    """Official PartSegHead: both convs normal(std 0.001), zero bias, so G starts at ~0.5."""
    torch.manual_seed(0)
    model = build_method("hpnet", 5, **small_options("hpnet")).train()
    for head in model.parsers:
        mid, last = head.body[0], head.body[3]
        for conv in (mid, last):
            std = conv.weight.std().item()
            assert 0.0007 < std < 0.0013, f"conv weight std {std}, official 0.001"
        assert mid.bias is None and (last.bias == 0).all(), "1x1 conv bias must start at 0"
    probs = model.parse(batch.images)
    assert (probs - 0.5).abs().max() < 0.01, "G must start near 0.5 everywhere"


def test_coco_forward_stops_before_the_necks(batch: Batch) -> None:
    """``parse`` (the COCO forward) leaves the BN necks' running statistics untouched."""
    torch.manual_seed(0)
    model = build_method("hpnet", 5, **small_options("hpnet")).train()
    before = [neck.bn.running_mean.clone() for neck in model.necks]
    sum(model.coco_loss(model.parse(batch.images), batch.part_labels).values()).backward()
    for j, neck in enumerate(model.necks):
        torch.testing.assert_close(neck.bn.running_mean, before[j], msg=f"neck {j} moved")
        assert int(neck.bn.num_batches_tracked) == 0, f"neck {j} counted a COCO batch"
        assert neck.classifier.weight.grad is None, "the COCO loss must not reach a classifier"
    torch.testing.assert_close(
        model.parse(batch.images), model(batch.images).masks, msg="parse must give forward's G"
    )
    assert int(model.necks[0].bn.num_batches_tracked) == 1, "the ReID forward does update it"


def test_official_and_paper_parsing_options_differ(batch: Batch) -> None:
    """The paper profile keeps eq. (9) and area coverage; the official profile the code's."""
    from benchmark.profiles import get_profile

    official, paper = get_profile("official").method, get_profile("paper").method
    assert official["parsing_normalize"] == "batch" and official["label_resize"] == "nearest"
    cfg = method_config("hpnet", **{k: v for k, v in paper.items() if k != "backbone"})
    assert cfg.parsing_normalize == "image" and cfg.label_resize == "coverage"
    torch.manual_seed(0)
    model = build_method("hpnet", 5, **small_options("hpnet")).train()
    masks = model.parse(batch.images)
    a = model.parsing_loss(masks, batch.part_labels)
    code = build_method("hpnet", 5, **small_options("hpnet"), parsing_normalize="batch")
    b = code.parsing_loss(masks, batch.part_labels)
    assert not torch.isclose(a, b), "the two normalisations must give different losses"
