"""The runner's checks before any work: which test sets get parsing scores, enough identities."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

import reid_datasets  # noqa: F401  (registers the data sets)
import reid_methods  # noqa: F401  (registers the methods)
from benchmark.config import apply_overrides
from benchmark.errors import DataError
from benchmark.profiles import get_profile
from benchmark.reporting.tables import render_report
from benchmark.run.runner import prepare_data, run_benchmark

SETS = 'eval.datasets=["occluded_reid", "partial_reid"]'


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory) -> Path:
    """A folder whose data/synthetic-smoke holds the smoke data (generated once)."""
    work = tmp_path_factory.mktemp("runner")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        prepare_data(apply_overrides(get_profile("smoke"), ['methods=["hpnet"]', SETS]))
    return work


def _prepare(work: Path, monkeypatch, *sets: str):
    monkeypatch.chdir(work)
    return prepare_data(apply_overrides(get_profile("smoke"), ['methods=["hpnet"]', SETS, *sets]))


def test_parsing_is_scored_on_synthetic_sets_unless_switched_off(smoke_dir, monkeypatch):
    data = _prepare(smoke_dir, monkeypatch)
    assert data.parsing_sets == ("occluded_reid", "partial_reid"), data.parsing_sets
    off = _prepare(smoke_dir, monkeypatch, "eval.parsing=false")
    assert off.parsing_sets == (), "eval.parsing=false: no parsing rows on any set"


def test_sets_without_ground_truth_are_skipped_with_a_note(smoke_dir, monkeypatch, caplog):
    root = smoke_dir / "copy"  # a data root as a set would look without synthetic ground truth
    shutil.copytree(smoke_dir / "data" / "synthetic-smoke", root)
    shutil.rmtree(root / "Partial-REID_Dataset_gt_label")
    with caplog.at_level(logging.INFO):
        data = _prepare(smoke_dir, monkeypatch, f"data.root={json.dumps(str(root))}")
    assert data.parsing_sets == ("occluded_reid",), data.parsing_sets
    assert "parsing quality not scored on partial_reid" in caplog.text, "a note, not a fake"


def test_too_few_identities_after_the_validation_split_fail_before_work(smoke_dir, monkeypatch):
    with pytest.raises(DataError, match=r"held out by train.val_ids.*fewer than 500") as err:
        _prepare(smoke_dir, monkeypatch, "train.ids_per_batch=500")
    assert "\n" not in str(err.value), "one line"


def test_a_training_free_method_reports_no_checkpoint_and_no_init(smoke_dir, monkeypatch):
    monkeypatch.chdir(smoke_dir)
    cfg = apply_overrides(get_profile("smoke"), ['methods=["colour_hist"]', SETS])
    run_dir, rows = run_benchmark(cfg, smoke_dir / "runs", device="cpu")
    assert (rows["checkpoint"] == "none").all() and (rows["init"] == "none").all()
    assert "Checkpoint: none (training-free)" in render_report(rows, None, "md")
