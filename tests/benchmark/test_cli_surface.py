"""One command-line surface: help on every option with its default, one exit-code table,
one-line usage errors, interrupts that name the command that continues the work."""

from __future__ import annotations

import argparse

import pytest

from benchmark.__main__ import main as entry_point
from benchmark.cli import EXIT_CODES, build_parser
from benchmark.commands import run as run_command
from benchmark.commands import sweep as sweep_command


def subparsers(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every (nested) subcommand parser, by its command words."""
    found = {prefix.strip(): parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= subparsers(sub, f"{prefix} {name}")
    return found


PARSERS = subparsers(build_parser())


def test_the_commands_are_the_documented_ones() -> None:
    top = {name.split()[0] for name in PARSERS if name}
    assert top == {
        "run", "sweep", "tables", "figures", "check", "ranklist", "report", "export", "score",
        "list", "synth", "datasets", "pretrain", "parse", "zoom",
    }  # fmt: skip


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_every_option_has_help_and_names_its_default(command: str) -> None:
    for action in PARSERS[command]._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = action.option_strings[-1]
        assert action.help and action.help.strip(), f"{command} {flag}: no help text"
        takes_value = action.nargs != 0
        if takes_value and not action.required:
            said = "default" in action.help or "required" in action.help
            assert said, f"{command} {flag}: help does not give the default"


@pytest.mark.parametrize("command", sorted(c for c in PARSERS if c))
def test_every_subcommand_has_a_one_line_help(command: str) -> None:
    parent, _, name = command.rpartition(" ")
    for action in PARSERS[parent]._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            assert helps.get(name), f"{command}: no one-line help in the command list"


def test_top_level_help_has_a_description_the_workflow_and_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "developer" not in text.lower(), "no internal notes in the user's help"
    assert "workflow:" in text and "exit codes:" in text, text
    for code, meaning in EXIT_CODES.items():
        assert f"{code:<4}{meaning}" in text, f"exit code {code} missing from --help"
    assert set(EXIT_CODES) == {0, 1, 2, 130}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synth", "--root", "x", "--seed", "-1"], "a seed must be >= 0, got -1"),
        (["score", "f.npz", "--seed", "-3"], "a seed must be >= 0, got -3"),
        (["score", "f.npz", "--trials", "0"], "must be at least 1, got 0"),
        (["ranklist", "r", "--method", "hpnet", "--dataset", "d", "--draw-seed", "-1"], ">= 0"),
        (["sweep", "--store", "s", "--jobs", "0"], "must be at least 1, got 0"),
        (["no-such-command"], "invalid choice"),
        (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        entry_point(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2, f"exit {e.value.code}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert list(tmp_path.iterdir()) == [], "nothing written"


@pytest.mark.parametrize(
    ("argv", "module", "hint"),
    [
        (["run", "--profile", "smoke"], run_command, "python -m benchmark run --resume RUN_DIR"),
        (["sweep", "--profile", "smoke", "--store", "s"], sweep_command, "the same sweep command"),
        (["list"], None, "the same command"),
    ],
)
def test_interrupt_exits_130_naming_the_command_that_continues(
    monkeypatch, capsys, argv, module, hint
):
    def interrupted(args):
        raise KeyboardInterrupt

    parser = build_parser()
    args = parser.parse_args(argv)
    monkeypatch.setattr(args, "func", interrupted, raising=False)
    monkeypatch.setattr("benchmark.__main__.build_parser", lambda: _Fixed(args))
    assert entry_point(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted; continue with: ") and hint in err[0]


class _Fixed:
    """A parser stand-in that returns already parsed arguments."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def parse_args(self, argv=None) -> argparse.Namespace:
        return self.args
