"""Profiles: a profile meant for pretrained weights says so when run without them."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from benchmark.profiles import PROFILES, get_profile, init_kind, weights_note
from benchmark.run import runner


@pytest.mark.parametrize("name", ["paper", "official"])
def test_paper_scale_profile_without_weights_says_so_in_one_line(name: str) -> None:
    note = weights_note(get_profile(name))
    assert note is not None and "\n" not in note, note
    assert f"profile {name} expects ImageNet-pretrained weights" in note and "--pretrained" in note
    with_weights = dataclasses.replace(get_profile(name), method={"pretrained": "r50.pth"})
    assert weights_note(with_weights) is None, "weights given: nothing to say"


def test_synthetic_profiles_need_no_note() -> None:
    for name in ("smoke", "cpu", "cpu_long"):
        assert weights_note(get_profile(name)) is None, name
    assert {n for n in PROFILES if PROFILES.meta(n).get("expects_weights")} == {"paper", "official"}


def test_init_kind_names_how_the_trunk_starts() -> None:
    assert init_kind(None) == "scratch" and init_kind("") == "scratch"
    assert init_kind("synthetic") == "synthetic" and init_kind("/w/resnet50.pth") == "file"


def test_run_logs_the_note_before_any_work(monkeypatch, caplog, tmp_path) -> None:
    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(runner, "prepare_inits", stop)
    cfg = dataclasses.replace(get_profile("paper"), methods=("baseline",))
    with caplog.at_level(logging.WARNING), pytest.raises(Stop):
        runner.run_benchmark(cfg, tmp_path / "runs", device="cpu")
    assert any("expects ImageNet-pretrained weights" in r.message for r in caplog.records)
