"""Run configuration: profiles, --set overrides, JSON round trip."""

from __future__ import annotations

import json

import pytest

from benchmark.config import apply_overrides, from_dict
from benchmark.errors import ConfigError, UnknownNameError
from benchmark.profiles import PROFILES, get_profile


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_round_trip_through_json(name: str) -> None:
    cfg = get_profile(name)
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_paper_profile_matches_section_4_1() -> None:
    cfg = get_profile("paper")
    assert (cfg.data.height, cfg.data.width) == (384, 128)
    t = cfg.train
    assert (t.epochs, t.decay_epochs, t.lr, t.momentum, t.weight_decay) == (
        300,
        (240,),
        0.01,
        0.9,
        5e-4,
    )
    assert (t.ids_per_batch, t.images_per_id, t.coco_batch) == (16, 4, 32)
    assert cfg.method["backbone"] == "resnet50"


def test_overrides_parse_values_and_sections() -> None:
    cfg = apply_overrides(
        get_profile("smoke"),
        ["train.epochs=5", "eval.modes=multi", "method.share_conv5=true", "data.root=/x"],
    )
    assert cfg.train.epochs == 5 and cfg.eval.modes == ("multi",)
    assert cfg.method["share_conv5"] is True and cfg.data.root == "/x"


@pytest.mark.parametrize("bad", ["train.epoch=3", "nosuch=1", "train.epochs"])
def test_bad_overrides_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        apply_overrides(get_profile("smoke"), [bad])


def test_unknown_profile() -> None:
    with pytest.raises(UnknownNameError, match="valid profiles"):
        get_profile("gpu")
