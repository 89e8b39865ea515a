"""Tests of the ResultStore (atomic writes, resume) and load_results."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest

from benchmark.errors import UserError
from benchmark.provenance import env_info
from benchmark.store.results import ResultStore, load_results, load_zoom
from benchmark.store.rows import ROW_COLUMNS, main_rows, make_rows
from tests.benchmark.reporting.result_rows import rows


def test_create_makes_unique_folders_and_never_reuses(tmp_path):
    first, second = ResultStore.create(tmp_path), ResultStore.create(tmp_path)
    assert first.run_dir != second.run_dir, "two runs must get two folders"
    assert first.run_dir.is_dir() and second.run_dir.is_dir()
    ResultStore.create(tmp_path, name="mine")
    with pytest.raises(UserError, match="already exists"):
        ResultStore.create(tmp_path, name="mine")


def test_append_writes_csv_and_json_with_run_id(tmp_path):
    store = ResultStore.create(tmp_path, name="run1")
    context = {
        "method": "hpnet",
        "dataset": "market1501",
        "query_set": "query",
        "mode": "multi",
        "distance": "paper",
        "vis": True,
        "seed": 0,
        "data": "synthetic",
        "labels": "gt",
    }  # no run
    store.append(make_rows(context, {"rank1": 0.9, "mAP": 0.8}))
    csv = pd.read_csv(store.run_dir / "results.csv")
    stored = json.loads((store.run_dir / "results.json").read_text())
    assert list(csv.columns) == list(ROW_COLUMNS), "CSV columns follow the schema"
    assert set(csv["run"]) == {"run1"} and len(stored) == 2, "the store sets run to the folder name"
    assert not list(store.run_dir.glob("*.tmp*")), "no temporary file is left behind"


def test_interrupted_write_keeps_previous_file(tmp_path, monkeypatch):
    store = ResultStore.create(tmp_path, name="run1")
    store.append(rows("hpnet", "market1501", rank1=0.9))
    before = (store.run_dir / "results.csv").read_text()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.append(rows("hpnet", "market1501", mAP=0.5))
    assert (store.run_dir / "results.csv").read_text() == before, "old results survive a crash"


def test_resume_replaces_rows_with_the_same_key(tmp_path):
    store = ResultStore.create(tmp_path, name="run1")
    store.append(rows("hpnet", "market1501", rank1=0.9, mAP=0.8))
    store.append(rows("baseline", "market1501", rank1=0.7))
    resumed = ResultStore.open(store.run_dir)
    resumed.append(rows("hpnet", "market1501", rank1=0.95, mAP=0.8))
    resumed.append(rows("hpnet", "market1501", seed=1, rank1=0.85))
    df = load_results(store.run_dir)
    assert len(df) == 4, f"re-appended keys must replace rows, got {len(df)} rows"
    hp = df[(df["method"] == "hpnet") & (df["seed"] == 0) & (df["metric"] == "rank1")]
    assert hp["value"].tolist() == [0.95], "the newer value wins"


def test_resume_from_csv_only_and_condition_rows(tmp_path):
    store = ResultStore.create(tmp_path, name="run1")
    store.append(rows("hpnet", "occluded_reid", extra={"occlusion": 0.2}, rank1=0.6))
    store.append(rows("hpnet", "occluded_reid", rank1=0.8))
    (store.run_dir / "results.json").unlink()
    resumed = ResultStore.open(store.run_dir)
    resumed.append(rows("hpnet", "occluded_reid", extra={"occlusion": 0.2}, rank1=0.65))
    resumed.append(rows("hpnet", "occluded_reid", rank1=0.8))
    df = load_results(store.run_dir)
    assert len(df) == 2, "rows with and without occlusion are different keys, each kept once"
    assert main_rows(df)["value"].tolist() == [0.8], "main_rows drops occlusion rows"


def test_open_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        ResultStore.open(tmp_path / "nope")


def test_write_json_is_atomic_and_plain_named(tmp_path):
    store = ResultStore.create(tmp_path, name="run1")
    path = store.write_json("config.json", {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert not list(store.run_dir.glob("*.tmp*")), "no temporary file is left behind"
    with pytest.raises(ValueError, match="plain file name"):
        store.write_json("../escape.json", {})


def test_env_info_has_versions_and_commit():
    info = env_info()
    for key in ("python", "torch", "torchvision", "numpy", "pandas", "platform", "device"):
        assert info[key], f"env_info lacks {key}"
    commit = info["git_commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit), f"bad commit {commit!r}"


def test_load_results_concatenates_nested_runs(tmp_path):
    for sub, name, method in (("a", "run1", "hpnet"), ("b/c", "run2", "baseline")):
        ResultStore.create(tmp_path / sub, name=name).append(rows(method, "market1501", rank1=0.5))
    df = load_results(tmp_path)
    assert sorted(df["run"]) == ["run1", "run2"], "every run folder found recursively"
    assert df["vis"].dtype == bool and df["seed"].dtype.kind == "i", "typed columns"
    single = load_results(tmp_path / "a" / "run1" / "results.csv")
    assert single["method"].tolist() == ["hpnet"], "a results.csv path loads that file"


def test_load_results_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_results(tmp_path / "missing")
    with pytest.raises(UserError, match="no results.csv"):
        load_results(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match="not a readable"):
        load_results(tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="lacks result columns"):
        load_results(tmp_path / "other.csv")
    (tmp_path / "header.csv").write_text(",".join(ROW_COLUMNS) + "\n")
    with pytest.raises(UserError, match="no result rows"):
        load_results(tmp_path / "header.csv")


def test_load_zoom_reads_the_rows_beside_results_and_names_bad_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text(",".join(ROW_COLUMNS) + "\n")
    assert load_zoom(run) is None, "no zoom.csv: no zoom rows"
    head = "method,seed,dataset,presentation,zoom,metric,value\n"
    good = head + "hpnet,0,partial_reid,zoom,1,rank1,0.5\n"
    (run / "zoom.csv").write_text(good)
    assert load_zoom(run)["value"].tolist() == [0.5]
    (run / "zoom.csv").write_text("method,value\nhpnet,0.5\n")
    with pytest.raises(UserError, match=r"lacks zoom columns .*rerun 'benchmark zoom'") as err:
        load_zoom(run)
    assert "\n" not in str(err.value), "one line"


def test_rows_differing_only_in_labels_are_kept_apart(tmp_path):
    store = ResultStore.create(tmp_path, name="run1")
    store.append(rows("hpnet", "market1501", labels="gt", rank1=0.9))
    store.append(rows("hpnet", "market1501", labels="ps", rank1=0.7))
    df = load_results(ResultStore.open(store.run_dir).run_dir)
    assert sorted(zip(df["labels"], df["value"], strict=True)) == [("gt", 0.9), ("ps", 0.7)]
