"""Per-query rows: content on a hand-built case, the gzip round trip, and the per-job merge."""

from __future__ import annotations

import gzip

import torch

from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.ranking import PerQuery
from benchmark.store.per_query import (
    COLUMNS,
    PER_QUERY_FILE,
    load_per_query,
    merge_job,
    query_frame,
    read_frame,
    save_job,
)


def _context(method: str = "hpnet", seed: int = 0, mode: str = "multi", vis: bool = True):
    return {
        "method": method,
        "seed": seed,
        "dataset": "occluded_reid",
        "query_set": "occluded_body_images",
        "mode": mode,
        "distance": "paper",
        "vis": vis,
        "data": "synthetic",
        "labels": "gt",
        "precision": "fp32",  # descriptive: not a per-query column
    }


def _case() -> tuple[PerQuery, FeatureBank]:
    """Three queries: a Rank-1 hit, a tied rank-3 match, and one with no match in the gallery."""
    per = PerQuery(
        first_rank=torch.tensor([0, 2, -1]),
        ap=torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64),
        ap_zzd=torch.tensor([1.0, 0.4, 0.0], dtype=torch.float64),
        valid=torch.tensor([True, True, False]),
        first_tied=torch.tensor([False, True, False]),
        inp=torch.tensor([1.0, 0.25, 0.0], dtype=torch.float64),
    )
    vis = torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]])
    bank = FeatureBank(torch.zeros(3, 4, 2), vis, torch.tensor([7, 8, 9]), torch.tensor([0, 0, 1]))
    return per, bank


def test_query_frame_holds_ranks_ap_and_visible_part_pattern() -> None:
    per, bank = _case()
    frame = query_frame(_context(), per, bank, parts=True)
    assert list(frame.columns) == list(COLUMNS[1:]), f"columns {list(frame.columns)}"
    assert frame["first_match_rank"].tolist() == [1, 3, -1], "1-based ranks, -1 without a match"
    assert frame["visible_parts"].tolist() == ["1011", "0011", "0000"], "bits in part order"
    assert frame["n_visible"].tolist() == [3, 2, 0], f"visible counts {frame['n_visible']}"
    assert frame["pid"].tolist() == [7, 8, 9] and frame["camid"].tolist() == [0, 0, 1]
    assert frame["tied"].tolist() == [False, True, False], "tie flag of the first match"
    assert frame["ap_zzd"].tolist() == [1.0, 0.4, 0.0] and frame["query"].tolist() == [0, 1, 2]


def test_query_frame_without_parts_and_single_mode() -> None:
    per, bank = _case()
    frame = query_frame(_context("baseline"), per, bank, parts=False)
    assert frame["visible_parts"].tolist() == ["", "", ""], "no pattern for a method without"
    assert frame["n_visible"].isna().all(), "no visible count for a method without visibility"
    assert query_frame(_context(mode="single"), per, bank, parts=True) is None, "multi rows only"


def test_job_file_round_trip_keeps_leading_zero_patterns(tmp_path) -> None:
    per, bank = _case()
    frames = [
        query_frame(_context(), per, bank, True),
        query_frame(_context(vis=False), per, bank, True),
    ]
    path = save_job(frames + [None], tmp_path)
    assert path == tmp_path / PER_QUERY_FILE
    with gzip.open(path, "rt") as f:
        assert f.readline().startswith("method,seed,dataset"), "a gzip CSV with a header"
    back = read_frame(path)
    assert back["visible_parts"].tolist() == ["1011", "0011", "0000"] * 2, "text, not 1011/11/0"
    assert back["vis"].tolist() == [True] * 3 + [False] * 3, "vis read back as bools"
    assert back["first_match_rank"].tolist() == [1, 3, -1] * 2
    assert back["occlusion"].isna().all(), "no condition on the standard protocol"
    assert save_job(frames, tmp_path / "again").read_bytes() == path.read_bytes(), "same bytes"


def test_merge_replaces_a_jobs_rows_and_keeps_the_others(tmp_path) -> None:
    per, bank = _case()
    run = tmp_path / "run1"
    (run / "results.csv").parent.mkdir(parents=True)
    (run / "results.csv").write_text("run,method\n", encoding="utf-8")
    for seed in (0, 1):
        job = run / "methods" / f"hpnet-seed{seed}"
        save_job([query_frame(_context(seed=seed), per, bank, True)], job)
        merge_job(run, job, "hpnet", seed)
    job0 = run / "methods" / "hpnet-seed0"
    save_job([query_frame(_context(seed=0, vis=False), per, bank, True)], job0)
    merge_job(run, job0, "hpnet", 0)  # a re-evaluation of seed 0: its rows are replaced
    merged = load_per_query(run)
    assert len(merged) == 6, f"3 queries x 2 seeds, no duplicate: {len(merged)}"
    by_seed = merged.groupby("seed")["vis"].apply(set).to_dict()
    assert by_seed == {0: {False}, 1: {True}}, f"seed 0 replaced, seed 1 kept: {by_seed}"
    assert set(merged["run"]) == {"run1"}, "the run column names the run folder"
    assert merge_job(run, tmp_path / "no-job", "hpnet", 2) is None, "a job without rows"


def test_load_per_query_is_none_for_an_old_run(tmp_path) -> None:
    (tmp_path / "results.csv").write_text("run,method\n", encoding="utf-8")
    assert load_per_query(tmp_path) is None, "a run from before per-query files: None"
