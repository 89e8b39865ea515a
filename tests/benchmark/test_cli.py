"""CLI guards: a foreign 'datasets' package, unknown plug-ins, bad settings: one-line errors."""

from __future__ import annotations

import json
import logging
import sys
import types

import pytest

from benchmark.__main__ import main as entry_point
from benchmark.cli import build_parser, import_registries, main, resolve_run_config
from benchmark.errors import UserError


def test_foreign_datasets_package_is_a_clear_error(monkeypatch) -> None:
    fake = types.ModuleType("datasets")
    fake.__file__ = "/site-packages/datasets/__init__.py"  # e.g. Hugging Face's package
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(UserError, match="is not this project's") as e:
        import_registries()
    assert "\n" not in str(e.value)


def test_unknown_plugin_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="cannot import plug-in 'no_such_pkg.mine'"):
        import_registries(["no_such_pkg.mine"])


@pytest.mark.parametrize(("flags", "level"), [(["-v"], logging.DEBUG), ([], logging.WARNING)])
def test_verbose_sets_debug_logging(monkeypatch, capsys, flags, level) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)  # restored after the test
    assert main([*flags, "list"]) == 0
    assert root.level == level, "--verbose turns on debug logging, and only it"
    assert "methods:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "method.share_conv=true"], "(did you mean share_conv5?)"),
        (["--set", "train.epochs=five"], "train.epochs must be an integer, got 'five'"),
        (["--set", "eval.distance=foo"], "eval.distance must be one of official, paper"),
        (["--seeds", "-1"], "seeds must be >= 0, got -1"),
    ],
)
def test_bad_run_settings_fail_before_any_work(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    code = entry_point(["run", "--profile", "smoke", "--out", "runs", *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2, f"exit {code}: {lines}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert list(tmp_path.iterdir()) == [], "no run folder and no data before the check"


def test_synth_set_is_checked_before_generating(tmp_path, capsys) -> None:
    root = tmp_path / "synth"
    code = entry_point(["synth", "--profile", "smoke", "--root", str(root), "--set", "train_id=9"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "unknown synthetic option 'train_id' (did you mean train_ids?)" in lines[0]
    assert not root.exists(), "nothing generated"


def test_method_option_of_a_selected_method_resolves() -> None:
    import_registries()
    argv = ["run", "--methods", "hpnet", "baseline", "--set", "method.share_conv5=true"]
    cfg = resolve_run_config(build_parser().parse_args(argv))
    assert cfg.methods == ("hpnet", "baseline") and cfg.method["share_conv5"] is True


def test_resume_reads_and_checks_config_json(tmp_path) -> None:
    from benchmark.profiles import get_profile

    import_registries()
    args = build_parser().parse_args(["run", "--resume", str(tmp_path)])
    (tmp_path / "config.json").write_text(json.dumps(get_profile("smoke").to_dict()))
    assert resolve_run_config(args) == get_profile("smoke"), "config.json round trip"
    bad = {**get_profile("smoke").to_dict(), "seeds": [-1]}
    (tmp_path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(UserError, match="seeds must be >= 0, got -1"):
        resolve_run_config(args)
    (tmp_path / "config.json").write_text('{"profile": "smo')
    with pytest.raises(UserError, match="config.json is not valid JSON") as info:
        resolve_run_config(args)
    assert "\n" not in str(info.value)
