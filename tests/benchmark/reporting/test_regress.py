"""Tests of the regression check: tolerance, missing metrics, counts, loading from folders."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.errors import ConfigError
from benchmark.reporting.regress import check, compare, format_check, passed
from benchmark.store.results import ResultStore
from tests.benchmark.reporting.result_rows import frame, rows


def _reference() -> pd.DataFrame:
    return frame(
        rows("hpnet", "occluded_reid", rank1=0.80, mAP=0.70, queries=1000, skipped=0),
        rows("hpnet", "partial_reid", mode="single", rank1=0.75, rank1_std=0.03, trials=10),
    )


def _lowered(df: pd.DataFrame, metric: str, by: float) -> pd.DataFrame:
    df = df.copy()
    df.loc[df["metric"] == metric, "value"] -= by
    return df


def _status(table: pd.DataFrame, metric: str, dataset: str = "occluded_reid") -> str:
    row = table[(table["metric"] == metric) & (table["dataset"] == dataset)]
    assert len(row) == 1, f"expected one {metric} row on {dataset}, got {len(row)}"
    return row["status"].iloc[0]


def test_identical_results_pass():
    table = compare(_reference(), _reference(), 0.02)
    assert passed(table), format_check(table)
    assert (table["delta"].fillna(0) == 0).all()


def test_drop_beyond_tolerance_fails_within_passes():
    beyond = compare(_reference(), _lowered(_reference(), "mAP", 0.05), 0.02)
    assert _status(beyond, "mAP") == "regressed" and not passed(beyond)
    assert beyond.loc[beyond["metric"] == "mAP", "delta"].round(6).tolist() == [-0.05]
    within = compare(_reference(), _lowered(_reference(), "mAP", 0.015), 0.02)
    assert _status(within, "mAP") == "ok" and passed(within), format_check(within)
    better = compare(_reference(), _lowered(_reference(), "mAP", -0.1), 0.02)
    assert passed(better), "a rise is never a regression"


def test_missing_metric_fails_and_new_metric_passes():
    current = _reference()
    current = current[current["metric"] != "rank1"]
    table = compare(_reference(), current, 0.02)
    assert _status(table, "rank1") == "missing" and not passed(table)
    extra = pd.concat([_reference(), frame(rows("pcb", "occluded_reid", rank1=0.1))])
    table = compare(_reference(), extra, 0.02)
    assert passed(table) and (table["status"] == "new").sum() == 1


def test_counts_must_match_and_std_is_information():
    changed = compare(_reference(), _lowered(_reference(), "queries", 1), 0.02)
    assert _status(changed, "queries") == "changed" and not passed(changed)
    spread = compare(_reference(), _lowered(_reference(), "rank1_std", -0.5), 0.02)
    assert _status(spread, "rank1_std", "partial_reid") == "info" and passed(spread)


def test_runs_are_averaged_and_data_kinds_never_mix():
    two_runs = pd.concat(
        [
            _lowered(_reference(), "mAP", 0.03).assign(run="r1"),
            _lowered(_reference(), "mAP", -0.03).assign(run="r2"),
        ]
    )
    table = compare(_reference(), two_runs, 0.001)
    assert _status(table, "mAP") == "ok", "the mean over runs equals the reference"
    real = _reference().assign(data="real")
    assert not passed(compare(_reference(), real, 0.02)), "synthetic reference vs real fails"


def test_check_from_folders_and_format(tmp_path):
    ResultStore.create(tmp_path / "ref", name="a").append(_reference().to_dict("records"))
    ResultStore.create(tmp_path / "cur", name="b").append(
        _lowered(_reference(), "rank1", 0.1).to_dict("records")
    )
    table, ok = check(tmp_path / "ref", tmp_path / "cur")
    assert not ok, "a 10-point drop fails at the default tolerance"
    text = format_check(table)
    assert "FAILED" in text and "| regressed | hpnet | occluded_reid" in text, text
    assert "80.0 | 70.0 | -10.0" in text, f"values shown in %: {text}"
    table, ok = check(tmp_path / "ref", tmp_path / "ref")
    assert ok and format_check(table).startswith("Regression check passed")
    with pytest.raises(ConfigError, match="tolerance"):
        compare(_reference(), _reference(), -1.0)


def test_labels_are_part_of_the_key(tmp_path):
    reference = _reference().assign(labels="gt")
    ResultStore.create(tmp_path / "ref", name="a").append(reference.to_dict("records"))
    ResultStore.create(tmp_path / "cur", name="b").append(
        reference.assign(labels="ps").to_dict("records")
    )
    table, ok = check(tmp_path / "ref", tmp_path / "cur")
    assert not ok, "a pseudo-label run is never compared with a ground-truth reference"
    assert (table["status"] == "missing").sum() == len(reference), "every gt row is missing"
    assert (table["status"] == "new").sum() == len(reference), "every ps row is new"
    assert "| missing | hpnet | occluded_reid" in format_check(table)
    assert " gt |" in format_check(table), "the labels column is shown"


def _cli(argv: list[str], capsys) -> tuple[int, str, list[str]]:
    from benchmark.__main__ import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_check_exits_1_for_a_regression_and_2_for_unusable_input(tmp_path, capsys):
    ResultStore.create(tmp_path / "ref", name="a").append(_reference().to_dict("records"))
    ResultStore.create(tmp_path / "cur", name="b").append(
        _lowered(_reference(), "rank1", 0.1).to_dict("records")
    )
    ResultStore.create(tmp_path / "real", name="c").append(
        _reference().assign(data="real").to_dict("records")
    )
    (tmp_path / "garbled.csv").write_text("not,a,results\nfile\n\n")
    check = ["check", "--reference", str(tmp_path / "ref")]
    assert _cli([*check, str(tmp_path / "ref")], capsys)[0] == 0
    code, out, err = _cli([*check, str(tmp_path / "cur")], capsys)
    assert (
        code == 1
        and "regressed" in out
        and err == ["check FAILED: a metric regressed or is missing"]
    )
    for current, message in (
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "garbled.csv", "lacks result columns"),
        (tmp_path / "real", "share no result row"),
    ):
        code, _, err = _cli([*check, str(current)], capsys)
        assert code == 2, f"{current.name}: exit {code}, {err}"
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_check_help_states_the_exit_codes(capsys):
    from benchmark.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 passed; 1 a metric regressed" in text and "2 unusable input" in text, text
