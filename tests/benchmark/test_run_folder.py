"""The run folder: what a resume may change, its record, and nothing left of a failed start."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest

import reid_datasets  # noqa: F401  (registers the data sets that eval.datasets names)
import reid_methods  # noqa: F401  (registers the methods)
from benchmark.config import apply_overrides
from benchmark.errors import ConfigError, StorageError, UserError
from benchmark.profiles import get_profile
from benchmark.store.run_folder import (
    check_out_dir,
    check_resume,
    create_run,
    job_dir,
    job_state,
    mark_done,
    read_run_config,
    record_resume,
)

ENV = {"python": "3.x", "device": "cpu"}


def stored(*sets: str):
    """The configuration of a run: smoke with hpnet and baseline, seed 0, resolved test sets."""
    return apply_overrides(get_profile("smoke"), ['eval.datasets=["occluded_reid"]', *sets])


def make_run(tmp_path: Path, finished: tuple[str, ...] = ("hpnet",), legacy: bool = False):
    """A run folder whose ``finished`` methods (seed 0) are done, with their checkpoints."""
    cfg = stored()
    run = create_run(tmp_path / "runs", cfg, ENV).run_dir
    for method in finished:
        job = job_dir(run, method, 0)
        job.mkdir(parents=True)
        (job / "checkpoint.pt").write_bytes(b"final")
        if legacy:  # done.json as runs wrote it before it recorded the eval settings
            (job / "done.json").write_text('{"rows": 3}')
        else:
            mark_done(job, 3, cfg)
    return run, cfg


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (['methods=["hpnet", "baseline", "pcb"]'], "methods"),
        (["seeds=[0, 1]"], "seeds"),
        (["train.lr=0.005"], "train.lr"),
        (["eval.modes=multi"], "eval.modes"),
        (['eval.datasets=["occluded_reid", "partial_reid"]'], "eval.datasets"),
    ],
)
def test_resume_accepts_what_only_affects_work_to_do(tmp_path, sets, key):
    run, old = make_run(tmp_path)
    new = check_resume(run, old, apply_overrides(old, sets))
    record = record_resume(run, new, ENV | {"device": "cuda"})
    assert list(record["changes"]) == [key], record
    assert read_run_config(run) == new, "config.json now holds the resumed settings"
    assert record["finished"] == ["hpnet-seed0"], "the record names the jobs done before it"
    assert json.loads((run / "env.json").read_text()) == ENV, "env.json keeps the original"
    log = json.loads((run / "resume_log.json").read_text())
    assert log == [record] and log[0]["env"]["device"] == "cuda", "this resume's environment"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["data.height=64"], "cannot change data.height (128 -> 64)"),
        (["train.epochs=3"], "cannot change train.epochs (2 -> 3)"),
        (["train.lr=0.5"], "train.lr may only be lowered on resume (0.02 -> 0.5)"),
        (["method.head_dim=16"], "cannot change method.head_dim (32 -> 16)"),
        (['methods=["hpnet"]'], "cannot drop methods baseline from the run"),
        (["seeds=[1]"], "cannot drop seeds 0 from the run"),
    ],
)
def test_resume_refuses_what_defines_trained_results(tmp_path, sets, message):
    run, old = make_run(tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(ConfigError) as info:
        check_resume(run, old, apply_overrides(old, sets))
    text = str(info.value)
    assert message in text and "\n" not in text, text
    assert "start a new run" in text or "leave --" in text, "it says what to do instead"
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_new_methods_and_seeds_keep_the_run_order(tmp_path):
    run, old = make_run(tmp_path)
    new = check_resume(run, old, apply_overrides(old, ['methods=["pcb", "baseline", "hpnet"]']))
    assert new.methods == ("hpnet", "baseline", "pcb"), "the run's methods first, new ones last"


def test_eval_change_reevaluates_finished_jobs_and_needs_their_checkpoints(tmp_path):
    run, old = make_run(tmp_path, finished=("hpnet", "baseline"))
    new = check_resume(run, old, apply_overrides(old, ["eval.modes=multi"]))
    record_resume(run, new, ENV)
    assert job_state(job_dir(run, "hpnet", 0), old) == "done"
    assert job_state(job_dir(run, "hpnet", 0), new) == "reevaluate"
    assert job_state(job_dir(run, "pcb", 0), new) == "todo"
    mark_done(job_dir(run, "hpnet", 0), 2, new)
    assert job_state(job_dir(run, "hpnet", 0), new) == "done", "re-evaluated: done again"
    (job_dir(run, "baseline", 0) / "checkpoint.pt").unlink()
    with pytest.raises(ConfigError, match="cannot re-evaluate baseline-seed0 .* is gone"):
        check_resume(run, new, apply_overrides(new, ["eval.trials=5"]))


def test_legacy_done_files_are_stamped_before_an_eval_change(tmp_path):
    run, old = make_run(tmp_path, legacy=True)
    assert job_state(job_dir(run, "hpnet", 0), old) == "done", "an old run folder still resumes"
    new = check_resume(run, old, apply_overrides(old, ["eval.modes=multi"]))
    record_resume(run, new, ENV)
    assert job_state(job_dir(run, "hpnet", 0), new) == "reevaluate"
    done = json.loads((job_dir(run, "hpnet", 0) / "done.json").read_text())
    assert done["rows"] == 3 and done["eval"]["modes"] == ["multi", "single"]


def test_eval_setting_added_later_counts_at_its_default(tmp_path):
    run, cfg = make_run(tmp_path)
    done = job_dir(run, "hpnet", 0) / "done.json"
    record = json.loads(done.read_text())
    del record["eval"]["parsing"]  # done.json written before eval.parsing existed
    done.write_text(json.dumps(record))
    assert job_state(done.parent, cfg) == "done", "the default (parsing on) is what it ran with"
    off = apply_overrides(cfg, ["eval.parsing=false"])
    assert job_state(done.parent, off) == "reevaluate", "switching parsing off re-evaluates"


def test_each_resume_appends_its_record(tmp_path):
    run, old = make_run(tmp_path)
    record_resume(run, old, ENV)
    lower = check_resume(run, old, apply_overrides(old, ["train.lr=0.01"]))
    record_resume(run, lower, ENV)
    log = json.loads((run / "resume_log.json").read_text())
    assert [r["changes"] for r in log] == [{}, {"train.lr": {"old": 0.02, "new": 0.01}}], log
    (run / "resume_log.json").write_text("{")
    with pytest.raises(UserError, match="resume_log.json is not valid JSON"):
        check_resume(run, lower, lower)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"profile": "smo', "is not valid JSON"),
        ("[1, 2]", "is damaged: config must be a JSON object"),
        ('{"methods": ["hpnet"]}', "is damaged: config lacks profile"),
    ],
)
def test_damaged_config_json_is_one_line(tmp_path, content, message):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(UserError) as info:
        read_run_config(tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_out_must_be_a_writable_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "runs"):
        with pytest.raises(UserError, match="is a file, not a folder"):
            check_out_dir(out)
    check_out_dir(tmp_path / "new" / "runs")  # made later, by create_run
    assert not (tmp_path / "new").exists(), "checking makes nothing"


def test_out_where_nothing_can_be_written_is_one_line(tmp_path, monkeypatch):
    """What os.access cannot see (root, /proc, a read-only mount): the write is tried."""

    def refuse(**kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(StorageError, match="read-only file system writing .*new/runs") as info:
        check_out_dir(tmp_path / "new" / "runs")
    assert "\n" not in str(info.value), str(info.value)
    assert list(tmp_path.iterdir()) == [], "the folders made to try are removed"
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: os.mkdir(tmp_path / "x" / "y"))
    with pytest.raises(UserError, match="--out .*new: cannot write there \\(No such file"):
        check_out_dir(tmp_path / "new")  # any other refusal (e.g. /proc): one line too
    assert list(tmp_path.iterdir()) == [], "nothing left"


def test_failed_start_leaves_no_run_folder(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageError) as info:
        create_run(tmp_path / "new" / "runs", stored(), ENV)
    assert "disk full writing" in str(info.value) and "config.json" in str(info.value)
    assert list(tmp_path.iterdir()) == [], "no run folder, no --out folder, no temp file"
