"""CLI guards: a foreign 'datasets' package, unknown plug-ins, bad settings: one-line errors."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import pytest
import torch

from benchmark.__main__ import main as entry_point
from benchmark.cli import build_parser, main
from benchmark.commands.run_options import resolve_run_config
from benchmark.errors import ConfigError, UserError
from benchmark.loading.roots import synthetic_root
from benchmark.plugins import import_plugins


def test_unknown_plugin_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="cannot import plug-in 'no_such_pkg.mine'"):
        import_plugins(["no_such_pkg.mine"])


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
    argv = ["run", "--methods", "hpnet", "baseline", "--set", "method.share_conv5=true"]
    cfg = resolve_run_config(build_parser().parse_args(argv))
    assert cfg.methods == ("hpnet", "baseline") and cfg.method["share_conv5"] is True


def test_resume_reads_and_checks_config_json(tmp_path) -> None:
    from benchmark.profiles import get_profile

    args = build_parser().parse_args(["run", "--resume", str(tmp_path)])
    smoke = resolve_run_config(build_parser().parse_args(["run", "--profile", "smoke"]))
    (tmp_path / "config.json").write_text(json.dumps(smoke.to_dict()))
    assert resolve_run_config(args) == smoke, "config.json round trip"
    bad = {**get_profile("smoke").to_dict(), "seeds": [-1]}
    (tmp_path / "config.json").write_text(json.dumps(bad))
    with pytest.raises(UserError, match="seeds must be >= 0, got -1"):
        resolve_run_config(args)
    (tmp_path / "config.json").write_text('{"profile": "smo')
    with pytest.raises(UserError, match="config.json is not valid JSON") as info:
        resolve_run_config(args)
    assert "\n" not in str(info.value)


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    """Exit code and stderr lines of the CLI entry point."""
    code = entry_point(argv)
    return code, capsys.readouterr().err.strip().splitlines()


def one_line_error(code: int, lines: list[str], message: str) -> None:
    assert code == 2, f"exit {code}: {lines}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "train.epochs=0"], "train.epochs must be >= 1, got 0"),
        (["--set", "train.lr=-1"], "train.lr must be > 0, got -1"),
        (["--set", "data.height=0"], "data.height must be > 0, got 0"),
        (["--set", "eval.modes=[]"], "eval.modes needs at least 1 item(s)"),
        (["--device", "foo"], "unknown device 'foo'"),
        (["--device", "cuda:7"], "device 'cuda:7'"),
    ],
)
def test_ranges_and_devices_fail_before_any_work(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    code, lines = run_cli(["run", "--profile", "smoke", "--out", "runs", *args], capsys)
    one_line_error(code, lines, message)
    assert list(tmp_path.iterdir()) == [], "no run folder and no data before the check"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, lines = run_cli(["run", "--profile", "smoke", "--device", "cuda"], capsys)
    one_line_error(code, lines, "this machine has no CUDA device; pass --device cpu")
    assert list(tmp_path.iterdir()) == []


def test_out_pointing_at_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("taken").write_text("a file")
    for out in ("taken", "taken/runs"):
        code, lines = run_cli(["run", "--profile", "smoke", "--out", out], capsys)
        one_line_error(code, lines, "taken is a file, not a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"], "no data, no run folder"


def no_data(cfg):
    raise AssertionError("the data must not be prepared: the run should have stopped before")


def test_disk_full_is_one_line_naming_the_path_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from benchmark.run import runner

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "prepare_data", lambda cfg: None)  # the data are not under test
    monkeypatch.setattr(runner, "prepare_inits", lambda cfg, dev: {})  # nor the cpu trunk
    monkeypatch.setattr(os, "fsync", full)
    code, lines = run_cli(["run", "--profile", "cpu", "--out", "runs"], capsys)
    one_line_error(code, lines, "disk full writing runs/")
    assert "config.json" in lines[0], lines
    assert list(tmp_path.iterdir()) == [], "no run folder, no --out folder, no *.tmp* file"


def test_file_system_refusal_outside_the_writer_is_one_line(monkeypatch, capsys):
    from benchmark.commands import data

    def read_only(args):
        raise OSError(errno.EROFS, "Read-only file system", "/mnt/ro/figures")

    monkeypatch.setattr(data, "cmd_list", read_only)
    code, lines = run_cli(["list"], capsys)
    one_line_error(code, lines, "read-only file system writing /mnt/ro/figures")


@pytest.fixture
def finished_run(tmp_path) -> Path:
    """A run folder (smoke config, hpnet and baseline) whose hpnet seed 0 job is done."""
    cfg = resolve_run_config(build_parser().parse_args(["run", "--profile", "smoke"]))
    run = tmp_path / "runs" / "r1"
    (run / "methods" / "hpnet-seed0").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    (run / "env.json").write_text('{"device": "cpu"}')
    (run / "methods" / "hpnet-seed0" / "done.json").write_text('{"rows": 1}')
    return run


def folder_state(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "data.height=64"], "cannot change data.height (128 -> 64)"),
        (["--set", "train.lr=0.1"], "train.lr may only be lowered on resume"),
        (["--methods", "baseline"], "cannot drop methods hpnet from the run"),
        (["--root", "elsewhere"], "cannot change data.root (None -> elsewhere)"),
        (["--profile", "cpu"], "cannot change the profile (smoke -> cpu)"),
        (["--out", "runs2"], "--out does not apply to --resume"),
    ],
)
def test_resume_refuses_in_one_line_and_changes_nothing(
    finished_run, monkeypatch, capsys, args, message
):
    from benchmark.run import runner

    monkeypatch.setattr(runner, "prepare_data", no_data)
    before = folder_state(finished_run)
    code, lines = run_cli(["run", "--resume", str(finished_run), *args], capsys)
    one_line_error(code, lines, message)
    assert folder_state(finished_run) == before, "a refused resume leaves the run as it was"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.json", "[]", "config.json is damaged: config must be a JSON object"),
        ("config.json", '{"profile": "smoke", "sedes": [0]}', "unknown setting 'sedes'"),
        ("results.json", '[{"method": "hpnet", "value": "abc"}]', "holds a malformed result row"),
        ("results.json", "[{", "results.json is not valid JSON"),
    ],
)
def test_damaged_run_files_stop_a_resume_before_any_work(
    finished_run, monkeypatch, capsys, name, content, message
):
    from benchmark.run import runner

    monkeypatch.setattr(runner, "prepare_data", no_data)
    (finished_run / name).write_text(content)
    code, lines = run_cli(["run", "--resume", str(finished_run)], capsys)
    one_line_error(code, lines, message)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("value", "abc", "line 3: value must be a number, got 'abc'"),
        ("vis", "maybe", "line 2: vis must be True or False, got 'maybe'"),
        ("seed", "1.5", "line 2: seed must be an integer, got '1.5'"),
    ],
)
def test_malformed_results_cell_is_one_line(tmp_path, capsys, column, value, message):
    from tests.benchmark.reporting.result_rows import frame, rows

    df = frame(rows("hpnet", "occluded_reid", rank1=0.8, mAP=0.7)).astype({column: object})
    df.loc[1 if column == "value" else 0, column] = value
    df.to_csv(tmp_path / "results.csv", index=False)
    for argv in (
        ["tables", str(tmp_path)],
        ["check", str(tmp_path), "--reference", str(tmp_path)],
    ):
        code, lines = run_cli(argv, capsys)
        one_line_error(code, lines, message)


def test_figures_out_pointing_at_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, lines = run_cli(["figures", str(tmp_path), "--out", str(tmp_path / "file")], capsys)
    one_line_error(code, lines, "is a file, not a folder")


def test_framing_settings_reach_the_generator_and_name_their_data_folder() -> None:
    args = ["run", "--set", "data.frame_cut_p=0.2", "--set", "data.frame_cut_tight_p=0"]
    cfg = resolve_run_config(build_parser().parse_args(args))
    overrides = cfg.data.synth_overrides()
    assert overrides == {"frame_cut_p": 0.2, "frame_cut_tight_p": 0.0}
    assert synthetic_root("cpu", overrides).name == "synthetic-cpu-cut0.2-tight0"
    plain = resolve_run_config(build_parser().parse_args(["run"]))
    assert plain.data.synth_overrides() == {}, "the profile's framing: the default folder"


def test_the_training_set_picks_its_protocols_test_sets_and_synthetic_stand_in() -> None:
    plain = resolve_run_config(build_parser().parse_args(["run", "--profile", "smoke"]))
    assert plain.data.train_set == "market1501"
    assert plain.eval.datasets == (
        "market1501",
        "partial_reid",
        "partial_ilids_2018",
        "partial_ilids_2019",
        "occluded_reid",
    ), "the paper's protocol; the field's other sets never join a Market-1501 run"
    args = build_parser().parse_args(["run", "--profile", "smoke", "--train-set", "occluded_duke"])
    duke = resolve_run_config(args)
    assert duke.data.train_set == "occluded_duke" and duke.eval.datasets == ("occluded_duke",)
    assert duke.data.synth_overrides()["sets"] == ("occluded_duke", "coco_densepose")
    assert synthetic_root("smoke", duke.data.synth_overrides()).name == (
        "synthetic-smoke-occluded_duke+coco_densepose"
    )
    args = build_parser().parse_args(["run", "--profile", "smoke", "--train-set", "p_dukemtmc"])
    with pytest.raises(ConfigError, match="p_dukemtmc has no synthetic stand-in"):
        resolve_run_config(args)
    args = build_parser().parse_args(["run", "--train-set", "partial_reid"])
    with pytest.raises(ConfigError, match="data.train_set"):
        resolve_run_config(args)
