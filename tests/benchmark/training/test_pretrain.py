"""Synthetic pretraining: cache key, reuse, identical loading in every method, disjoint people."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.__main__ import main
from benchmark.errors import UserError
from benchmark.profiles import get_profile
from benchmark.training import pretrain, pretrain_fit
from benchmark.training.pretrain import (
    PROFILES,
    SYNTHETIC,
    benchmark_people,
    cache_key,
    ensure_pretrained,
    init_options,
    prepare_inits,
    pretrain_profile,
)
from benchmark.training.pretrain_fit import TrunkSpec, draw_people
from reid_datasets.synthetic.config import synth_config
from reid_methods.backbone import ResNetTrunk, build_backbone
from reid_methods.base import applicable_options, build_method, list_methods, method_config

SPEC = TrunkSpec("resnet18_quarter", 1, 1, 64, 32)
SMOKE = PROFILES.get("smoke")


@pytest.fixture(scope="module")
def avoid() -> list:
    return benchmark_people(synth_config("smoke"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory, avoid) -> Path:
    """A smoke-sized pretraining (about a second on 2 cores)."""
    return ensure_pretrained(SPEC, SMOKE, avoid, tmp_path_factory.mktemp("pt"), progress=False)


def test_cache_key_changes_with_every_input(avoid) -> None:
    base = cache_key(SPEC, SMOKE, avoid)
    assert base == cache_key(SPEC, dataclasses.replace(SMOKE), list(avoid)), "key is stable"
    changed = [
        cache_key(dataclasses.replace(SPEC, backbone="resnet18_half"), SMOKE, avoid),
        cache_key(dataclasses.replace(SPEC, conv4_stride=2), SMOKE, avoid),
        cache_key(dataclasses.replace(SPEC, height=128), SMOKE, avoid),
        cache_key(SPEC, dataclasses.replace(SMOKE, epochs=3), avoid),
        cache_key(SPEC, dataclasses.replace(SMOKE, seed=2), avoid),
        cache_key(SPEC, SMOKE, avoid[:-1]),
    ]
    assert len({base, *changed}) == len(changed) + 1, "every input must change the key"


def test_weights_and_card_are_written(weights: Path, avoid) -> None:
    card = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["key"] == cache_key(SPEC, SMOKE, avoid)
    assert weights.name == f"resnet18_quarter-{card['key']}.pt"
    assert card["pretrain"]["ids"] == SMOKE.ids and card["precision"] == "fp32"
    assert card["avoided_identities"] == len(avoid)
    assert 0.0 <= card["heldout_accuracy"] <= 1.0
    assert card["steps"] == SMOKE.epochs * (SMOKE.ids * (SMOKE.images_per_id - 1) // 16)
    state = torch.load(weights, weights_only=True)
    assert "conv1.weight" in state and "layer4.1.conv2.weight" in state, "torchvision names"


def test_second_call_reuses_the_cache(weights: Path, avoid, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a cached trunk must not be trained again")

    monkeypatch.setattr(pretrain, "fit_trunk", refuse)
    before = weights.stat().st_mtime_ns
    again = ensure_pretrained(SPEC, SMOKE, avoid, weights.parent, progress=False)
    assert again == weights and weights.stat().st_mtime_ns == before


def test_a_file_without_its_card_is_rebuilt(tmp_path: Path, avoid) -> None:
    path = ensure_pretrained(SPEC, SMOKE, avoid, tmp_path, progress=False)
    first = torch.load(path, weights_only=True)
    path.with_suffix(".json").unlink()
    path.write_bytes(b"half a file")
    rebuilt = ensure_pretrained(SPEC, SMOKE, avoid, tmp_path, progress=False)
    second = torch.load(rebuilt, weights_only=True)
    assert rebuilt.with_suffix(".json").is_file()
    for key, value in first.items():  # fp32 on one machine: the same bytes again
        torch.testing.assert_close(second[key], value, rtol=0, atol=0, msg=key)


def _conv5_stages(model: nn.Module, layer4: dict[str, torch.Size]) -> list[nn.Module]:
    """The modules shaped like the pretrained Conv5 (names and shapes of every tensor)."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.Sequential)
        and {k: v.shape for k, v in m.state_dict().items()} == layer4
    ]


@pytest.mark.parametrize("name", [m for m in list_methods() if method_config(m).trains])
def test_every_method_loads_the_same_trunk(name: str, weights: Path) -> None:
    state = torch.load(weights, weights_only=True)
    layer4 = {k.removeprefix("layer4."): v.shape for k, v in state.items() if "layer4." in k}
    options = {"backbone": SPEC.backbone, "conv4_stride": 1, "pretrained": str(weights)}
    model = build_method(name, 5, **applicable_options(name, options))
    trunks = [m for m in model.modules() if isinstance(m, ResNetTrunk)]
    stages = _conv5_stages(model, layer4)
    assert len(trunks) == 1 and stages, f"{name}: no trunk or Conv5 found"
    for key, value in trunks[0].state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=f"{name} {key}")
    for stage in stages:  # HPNet: every unshared Conv5 copy starts from the pretrained Conv5
        for key, value in stage.state_dict().items():
            torch.testing.assert_close(value, state["layer4." + key], rtol=0, atol=0)
    if name == "hpnet":
        assert len(stages) == 4, "HPNet has 4 unshared Conv5 copies"


def test_pretraining_people_are_disjoint_from_every_benchmark_set() -> None:
    """The slow pairwise loop: each drawn person differs in >= 2 body groups from each avoided."""
    for run_profile in ("smoke", "cpu"):
        synth = synth_config(get_profile(run_profile).data.synth_profile)
        avoided = [p.groups() for p in benchmark_people(synth)]
        pcfg = pretrain_profile(run_profile)
        drawn = [p.groups() for p in draw_people(pcfg.seed, pcfg.ids, benchmark_people(synth))]
        assert len(drawn) == pcfg.ids
        for mine in drawn:
            for theirs in avoided:
                differ = sum(a != b for a, b in zip(mine, theirs, strict=True))
                assert differ >= 2, f"{run_profile}: a pretraining person is a benchmark one"
        expected = synth.train_ids + synth.test_ids
        assert len(avoided) > expected, "train, test and the occluded sets are all avoided"


def test_run_resolves_synthetic_to_the_cached_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the cache lives under ./data/pretrained, like the data
    cfg = dataclasses.replace(
        get_profile("smoke"), method={**get_profile("smoke").method, "pretrained": SYNTHETIC}
    )
    paths = {init_options(cfg, m)["pretrained"] for m in ("hpnet", "baseline", "pcb")}
    assert len(paths) == 1, "every method starts from the same file"
    (path,) = paths
    assert Path(path).is_file() and Path(path).parent == Path("data") / "pretrained"
    assert prepare_inits(cfg) == {"pretrained_trunk": [path]}, "env.json names the file"
    assert "pretrained" not in init_options(get_profile("smoke"), "hpnet"), "off by default"
    assert prepare_inits(get_profile("smoke")) == {}


def test_a_bad_pretrained_file_fails_in_prepare_inits(tmp_path: Path) -> None:
    """run calls prepare_inits before it makes the run folder: a bad file fails there."""
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a state dict")
    smoke = get_profile("smoke")
    cfg = dataclasses.replace(smoke, method={**smoke.method, "pretrained": str(bad)})
    with pytest.raises(UserError, match="cannot read pretrained weights .*bad.pth"):
        prepare_inits(cfg)
    foreign = tmp_path / "r18.pth"
    torch.save(build_backbone("resnet18").trunk.state_dict(), foreign)  # not this backbone
    cfg = dataclasses.replace(smoke, method={**smoke.method, "pretrained": str(foreign)})
    with pytest.raises(UserError, match="do not match the backbone"):
        prepare_inits(cfg)


def test_unresolved_synthetic_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="python -m benchmark pretrain"):
        build_backbone("resnet18_quarter", pretrained=SYNTHETIC)


def test_pretrain_cli_refuses_an_unknown_option(tmp_path: Path, capsys) -> None:
    code = main(["pretrain", "--profile", "smoke", "--out", str(tmp_path), "--set", "epoch=3"])
    err = capsys.readouterr().err
    assert code == 2 and "epochs" in err and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir()), "nothing is written"


def test_pretrain_cli_builds_then_reuses(tmp_path: Path, capsys) -> None:
    args = ["pretrain", "--profile", "smoke", "--out", str(tmp_path), "--device", "cpu"]
    assert main(args) == 0
    first = capsys.readouterr().out
    (weights,) = tmp_path.glob("*.pt")
    assert f"synthetic pretrained trunk: {weights}" in first
    assert main(args) == 0 and capsys.readouterr().out == first, "the second call reuses it"
    assert {p.name for p in tmp_path.iterdir()} == {weights.name, weights.stem + ".json"}


def test_added_options_keep_the_identity_trunk_key_and_change_it_when_set(avoid) -> None:
    assert not set(pretrain.LATER_OPTIONS) & set(pretrain.key_options(SMOKE)), "legacy key kept"
    base = cache_key(SPEC, SMOKE, avoid)
    keys = {
        cache_key(SPEC, dataclasses.replace(SMOKE, parts_weight=1.0), avoid),
        cache_key(SPEC, dataclasses.replace(SMOKE, crop_p=0.5), avoid),
        cache_key(SPEC, dataclasses.replace(SMOKE, crop_p=0.5, crop_min_height=0.6), avoid),
        cache_key(SPEC, dataclasses.replace(SMOKE, crop_p=0.5, crop_min_width=0.5), avoid),
        cache_key(SPEC, dataclasses.replace(SMOKE, store_dtype="float16"), avoid),
    }
    assert len(keys | {base}) == 6


def test_a_half_precision_trunk_is_read_into_float32(tmp_path: Path, avoid) -> None:
    """store_dtype=float16 writes the weights rounded to half precision (counters untouched),
    and a method reads them back into its float32 parameters without any other change."""
    half = dataclasses.replace(SMOKE, store_dtype="float16")
    path = ensure_pretrained(SPEC, half, avoid, tmp_path / "half", progress=False)
    full = ensure_pretrained(SPEC, SMOKE, avoid, tmp_path / "full", progress=False)
    stored_half = torch.load(path, weights_only=True)
    stored_full = torch.load(full, weights_only=True)
    assert stored_half.keys() == stored_full.keys()
    for key, value in stored_full.items():
        if value.is_floating_point():  # the same fp32 training, rounded once when stored
            assert stored_half[key].dtype == torch.float16, key
            assert torch.equal(stored_half[key], value.half()), key
        else:
            assert torch.equal(stored_half[key], value), key
    assert path.stat().st_size < 0.6 * full.stat().st_size
    model = build_method("baseline", 5, backbone=SPEC.backbone, pretrained=str(path))
    (trunk,) = [m for m in model.modules() if isinstance(m, ResNetTrunk)]
    for key, value in trunk.state_dict().items():
        expected = stored_half[key].to(value.dtype)
        assert value.dtype != torch.float16, key
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=key)


def test_a_shipped_trunk_is_used_and_a_cached_one_wins(tmp_path: Path, avoid, monkeypatch) -> None:
    shipped, cache = tmp_path / "shipped", tmp_path / "cache"
    built = ensure_pretrained(SPEC, SMOKE, avoid, shipped, progress=False)
    monkeypatch.setattr(pretrain, "SHIPPED_DIR", shipped)

    def refuse(*args, **kwargs):
        raise AssertionError("a shipped trunk must not be rebuilt")

    monkeypatch.setattr(pretrain, "fit_trunk", refuse)
    assert ensure_pretrained(SPEC, SMOKE, avoid, cache, progress=False) == built
    assert not cache.exists(), "nothing is written when the shipped trunk serves"
    cache.mkdir()
    for source in (built, built.with_suffix(".json")):
        (cache / source.name).write_bytes(source.read_bytes())
    assert ensure_pretrained(SPEC, SMOKE, avoid, cache, progress=False) == cache / built.name


def test_the_default_profile_trunk_ships_with_the_package() -> None:
    """A fresh clone's default run finds its trunk in the package: the committed file is the
    one the cpu profile asks for (its hash), with its card, in half precision under 2 MiB."""
    cfg = get_profile("cpu")
    spec = pretrain.trunk_spec(cfg, "hpnet")
    avoid = benchmark_people(synth_config(cfg.data.synth_profile))
    key = cache_key(spec, pretrain_profile("cpu"), avoid)
    path = pretrain.weights_path(pretrain.SHIPPED_DIR, spec, key)
    assert path.is_file() and path.with_suffix(".json").is_file(), (
        f"{path.name} is not shipped: make it with 'python -m benchmark pretrain --profile cpu' "
        "and copy the .pt and .json into benchmark/training/trunks/"
    )
    assert path.stat().st_size < 2 * 2**20
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["key"] == key and card["pretrain"]["store_dtype"] == "float16"
    state = torch.load(path, weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    shipped = sorted(p.name for p in pretrain.SHIPPED_DIR.iterdir())
    assert shipped == sorted([path.name, path.with_suffix(".json").name]), "no stale trunk"


def test_grid_labels_take_each_cells_majority_code() -> None:
    parts = torch.tensor(
        [[[1, 1, 0, 0], [1, 2, 0, 3], [4, 4, 5, 5], [4, 0, 5, 6]]], dtype=torch.uint8
    )  # [1, 4, 4] -> 2x2 cells
    got = pretrain_fit.grid_labels(parts, (2, 2))
    assert got.tolist() == [[[1, 0], [4, 5]]]


def test_resized_crops_move_labels_with_the_image() -> None:
    gen = torch.Generator().manual_seed(0)
    h, w = 32, 8
    rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    x = rows.expand(6, 3, h, w).clone()  # pixel value = its row
    parts = (rows // 4).to(torch.uint8).expand(6, h, w).clone()  # code = row // 4 (0..7)
    same, same_parts = pretrain_fit.resized_crops(x, parts, 0.0, 0.4, gen)
    torch.testing.assert_close(same, x)
    assert torch.equal(same_parts, parts.float())
    out, out_parts = pretrain_fit.resized_crops(x, parts, 1.0, 0.4, gen)
    assert out.shape == x.shape and out_parts.shape == (6, h, w)
    for i in range(6):
        band = out[i, 0, :, 0]  # the source row each output row shows
        assert band[-1] - band[0] < h - 1, "a crop shows fewer rows than the image"
        assert bool((band[1:] >= band[:-1]).all()), "rows keep their order"
        # the label of each output row is the code of (about) the source row it shows
        assert (out_parts[i, :, 0] - (band // 4)).abs().max() <= 1


def test_resized_crops_with_a_min_width_zoom_across_as_well() -> None:
    gen = torch.Generator().manual_seed(1)
    h, w = 32, 16
    cols = torch.arange(w, dtype=torch.float32)[None, :].expand(h, w)
    x = cols.expand(8, 3, h, w).clone()  # pixel value = its column
    parts = (cols // 4).to(torch.uint8).expand(8, h, w).clone()
    bands, _ = pretrain_fit.resized_crops(x, parts, 1.0, 0.4, gen)  # min_width 1: full width
    torch.testing.assert_close(bands, x)
    out, out_parts = pretrain_fit.resized_crops(x, parts, 1.0, 0.4, gen, min_width=0.5)
    for i in range(8):
        strip = out[i, 0, 0]  # the source column each output column shows
        span = float(strip[-1] - strip[0])
        assert w / 2 - 2 <= span < w - 1, "at least half the width and never all of it"
        assert bool((strip[1:] >= strip[:-1]).all()), "columns keep their order"
        assert (out_parts[i, 0] - (strip // 4)).abs().max() <= 1


def test_parts_pretraining_runs_and_says_so_in_its_card(tmp_path: Path, avoid) -> None:
    pcfg = dataclasses.replace(SMOKE, parts_weight=1.0, crop_p=0.5)
    path = ensure_pretrained(SPEC, pcfg, avoid, tmp_path, progress=False)
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert "7-part segmentation" in card["task"] and "vertical crops" in card["task"]
    assert card["pretrain"]["parts_weight"] == 1.0 and card["final_loss"] > 0
    state = torch.load(path, weights_only=True)
    assert not any(k.startswith(("parts", "classifier")) for k in state), "heads are dropped"


def test_framed_pretraining_images_and_their_cache_key() -> None:
    from benchmark.training.pretrain import PretrainConfig, key_options, task_text
    from benchmark.training.pretrain_fit import render_set

    people = draw_people(0, 3, [])
    plain = render_set(people, 4, 2, 0, (64, 32))
    framed = render_set(people, 4, 2, 0, (64, 32), framed_p=1.0)
    assert not torch.equal(plain.images, framed.images), "framing changes the images"
    top_rows = [int(np.flatnonzero(p.numpy().any(1)).min()) for p in framed.parts]
    assert len(set(top_rows)) > 3, "framed people start at many heights"
    plain_cfg = PretrainConfig(framed_p=0.0)
    assert "framed_p" not in key_options(plain_cfg), "the old trunks keep their names"
    assert key_options(PretrainConfig(framed_p=0.5))["framed_p"] == 0.5
    assert "framed like detector boxes" in task_text(PretrainConfig(framed_p=0.5))
    assert "framed like detector boxes" not in task_text(plain_cfg)
