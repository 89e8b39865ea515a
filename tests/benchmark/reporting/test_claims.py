"""Claims: the paired bootstrap interval, verdicts, query pairing over seeds, visible parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import DataError
from benchmark.reporting.claims import (
    CLAIMS,
    Claim,
    Side,
    claims_frame,
    differences_frame,
    paired_interval,
    paired_queries,
    verdict,
)
from benchmark.reporting.table_claims import (
    MISSING_NOTE,
    render_confidence,
    visible_parts_frame,
)
from benchmark.store.per_query import COLUMNS
from reid_methods.base import method_reference

CLAIM_A = next(c for c in CLAIMS if c.key == "a")


def test_interval_contains_the_true_difference_and_pairing_narrows_it() -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 1, 600)  # shared by both methods: what pairing cancels
    x = difficulty + 0.3 + rng.normal(0, 0.5, 600)
    y = difficulty + rng.normal(0, 0.5, 600)
    found = paired_interval(x, y, n_resamples=2000, seed=1)
    assert found.low < 0.3 < found.high, f"true difference 0.3 inside {found}"
    assert found.difference == pytest.approx(np.mean(x - y))
    unpaired = 2 * 1.96 * np.sqrt(x.var() / 600 + y.var() / 600)  # ignores the pairing
    assert found.high - found.low < 0.5 * unpaired, f"paired width {found} vs {unpaired:.3f}"
    assert found.method == "BCa"


def test_interval_is_seeded() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random(50), rng.random(50)
    first, again = paired_interval(x, y, 500, seed=4), paired_interval(x, y, 500, seed=4)
    assert first == again, "the same seed gives the same interval"


def test_known_signs_give_holds_and_reversed_zero_gives_inconclusive() -> None:
    rng = np.random.default_rng(1)
    hits_b = (rng.random(300) < 0.4).astype(float)
    better = np.maximum(hits_b, (rng.random(300) < 0.5).astype(float))  # never worse, often better
    up = paired_interval(better, hits_b, 2000)
    assert verdict(up.low, up.high, ">") == "holds", f"a clear gain holds: {up}"
    down = paired_interval(hits_b, better, 2000)
    assert verdict(down.low, down.high, ">") == "reversed", f"a clear loss reverses: {down}"
    flips = np.tile([1.0, 0.0], 150)  # half the queries gain a hit, half lose one: mean 0
    zero = paired_interval(flips, 1 - flips, 2000)
    assert zero.difference == 0 and zero.low < 0 < zero.high, f"zero difference: {zero}"
    assert verdict(zero.low, zero.high, ">") == "inconclusive"


def test_identical_results_give_an_exact_zero_interval() -> None:
    same = paired_interval(np.ones(20), np.ones(20))
    assert (same.low, same.high, same.method) == (0.0, 0.0, "exact")
    assert verdict(0.0, 0.0, ">") == "inconclusive", "no gain is not a gain"
    assert verdict(0.0, 0.0, ">=") == "holds", "no loss holds a >= claim"
    assert verdict(-0.1, 0.0, ">=") == "inconclusive"


def _rows(method: str, seed: int, hits: list[int], vis: bool = True, **extra) -> pd.DataFrame:
    n = len(hits)
    frame = pd.DataFrame(
        {
            "run": "r",
            "method": method,
            "seed": seed,
            "dataset": extra.get("dataset", "occluded_reid"),
            "query_set": "occluded_body_images",
            "mode": "multi",
            "distance": "paper",
            "vis": vis,
            "data": "synthetic",
            "labels": "gt" if method != "baseline" else "none",
            "occlusion": np.nan,
            "query": range(n),
            "pid": range(100, 100 + n),
            "camid": 0,
            "valid": True,
            "first_match_rank": [1 if h else 4 for h in hits],
            "ap": [1.0 if h else 0.25 for h in hits],
            "ap_zzd": 0.0,
            "tied": False,
            "visible_parts": extra.get("parts", ""),
            "n_visible": extra.get("n_visible", pd.NA),
        }
    )
    return frame[list(COLUMNS)]


def test_queries_pair_by_index_on_common_seeds() -> None:
    pq = pd.concat(
        [
            _rows("hpnet", 0, [1, 1, 0, 1]),
            _rows("hpnet", 1, [1, 0, 0, 1]),
            _rows("hpnet", 2, [0, 0, 0, 0]),  # no baseline seed 2: left out
            _rows("baseline", 1, [0, 0, 1, 1]).iloc[::-1],  # row order must not matter
            _rows("baseline", 0, [0, 1, 0, 1]),
        ]
    )
    paired = paired_queries(pq, CLAIM_A)
    assert paired["hit_a"].tolist() == [1.0, 0.5, 0.0, 1.0], "hpnet over seeds 0 and 1"
    assert paired["hit_b"].tolist() == [0.0, 0.5, 0.5, 1.0], "baseline over seeds 0 and 1"
    assert paired["ap_b"].tolist() == [0.25, 0.625, 0.625, 1.0]
    assert set(paired["seeds"]) == {2}, "two common seeds"


def test_a_training_free_reference_pairs_with_every_seed_of_the_method() -> None:
    """The floor has no seed (run tests it once, as seed 0): HPNet's three seeds each meet it,
    so each query's HPNet value is its mean over three seeds, not seed 0's alone."""
    pq = pd.concat(
        [
            _rows("hpnet", 0, [1, 0, 0, 1]),
            _rows("hpnet", 1, [1, 1, 0, 1]),
            _rows("hpnet", 2, [1, 1, 1, 0]),
            _rows("colour_hist", 0, [0, 1, 0, 0]),
        ]
    )
    claim = Claim("f1", "", Side("hpnet"), Side("colour_hist"), ">", ("occluded_reid",))
    paired = paired_queries(pq, claim)
    assert paired["hit_a"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 2 / 3])
    assert paired["hit_b"].tolist() == [0.0, 1.0, 0.0, 0.0], "the floor's one set of rows"
    assert set(paired["seeds"]) == {3}, "every seed of the learned method"
    flipped = Claim("x", "", Side("colour_hist"), Side("hpnet"), ">", ("occluded_reid",))
    assert paired_queries(pq, flipped)["hit_b"].tolist() == paired["hit_a"].tolist()
    both = pd.concat([pq, _rows("colour_hist", 1, [0, 1, 0, 0])])  # a floor run on two seeds
    assert paired_queries(both, claim)["hit_b"].tolist() == [0.0, 1.0, 0.0, 0.0], "once"
    learned = Claim("a", "", Side("hpnet"), Side("baseline"), ">", ("occluded_reid",))
    with_base = pd.concat([pq, _rows("baseline", 0, [0, 0, 0, 0])])
    assert set(paired_queries(with_base, learned)["seeds"]) == {1}, "learned: common seeds"


def test_claims_frame_verdicts_and_claims_not_run() -> None:
    gain = [1] * 40 + [0] * 10
    pq = pd.concat([_rows("hpnet", 0, gain), _rows("baseline", 0, [0] * 50)])
    frame, not_run = claims_frame(pq, n_resamples=1000)
    assert set(frame["metric"]) == {"rank1", "mAP"} and set(frame["claim"]) == {"a"}
    rank1 = frame[frame["metric"] == "rank1"].iloc[0]
    assert rank1["difference"] == pytest.approx(80.0), "points: 40 of 50 queries gained a hit"
    assert rank1["verdict"] == "holds" and rank1["queries"] == 50 and rank1["seeds"] == 1
    assert {c.key for c in not_run} == {"b", "c", "d", "e"}, "claims whose methods were not run"
    text = render_confidence(pq, "md", n_resamples=1000)
    assert "| (a) HPNet > baseline under occlusion | Occluded-REID | R1 |" in text
    assert "+80.0" in text and "holds" in text and "Not run" in text
    assert "\\caption{" in render_confidence(pq, "latex", n_resamples=1000)


def test_pairing_refuses_different_queries_under_one_index() -> None:
    pq = pd.concat([_rows("hpnet", 0, [1, 0]), _rows("baseline", 0, [1, 0])])
    pq.loc[pq["method"] == "baseline", "pid"] = [5, 6]
    with pytest.raises(DataError, match="different queries"):
        paired_queries(pq, CLAIM_A)


def test_missing_per_query_rows_give_one_note() -> None:
    assert render_confidence(None, "md") == MISSING_NOTE + "\n"
    assert render_confidence(None, "latex").startswith("% "), "a LaTeX comment"


def test_accuracy_by_visible_parts_matches_a_hand_count() -> None:
    pq = pd.concat(
        [
            _rows("hpnet", 0, [1, 0, 1], parts="1111", n_visible=4),
            _rows("hpnet", 1, [1, 1], parts="0011", n_visible=2),
            _rows("hpnet", 1, [0], parts="0111", n_visible=3).assign(valid=False),
            _rows("hpnet", 0, [0, 0], vis=False, parts="1111", n_visible=4),  # w/o vis: out
            _rows("baseline", 0, [1, 1]),  # no visibility: out
        ]
    )
    table = visible_parts_frame(pq)
    got = {int(r.n_visible): (r.queries, r.rank1, r.mAP) for r in table.itertuples()}
    assert got == {2: (2, 1.0, 1.0), 4: (3, 2 / 3, 0.75)}, f"by visible parts: {got}"
    assert set(table["method"]) == {"hpnet"}


def test_each_row_is_compared_with_its_reference() -> None:
    assert method_reference("baseline") is None, "the baseline is the reference"
    assert method_reference("pcb") == method_reference("hpnet") == "baseline"
    assert method_reference("hpnet_wo_coco") == "hpnet", "an ablation: the full method"
    assert method_reference("my_plugin_net") == "baseline", "unregistered: the baseline"
    base = [1] * 10 + [0] * 10  # 50% Rank-1
    pq = pd.concat(
        [
            _rows("baseline", 0, base),
            _rows("pcb", 0, base),  # no visibility: its w/o vis row is the same model
            _rows("pcb", 0, base, vis=False),
            _rows("hpnet", 0, [1] * 16 + [0] * 4, parts="1111"),  # 80%
            _rows("hpnet", 0, [1] * 8 + [0] * 12, vis=False, parts="1111"),  # 40%
            _rows("hpnet_wo_coco", 0, [1] * 14 + [0] * 6, parts="1111"),  # 70%
            _rows("my_plugin_net", 0, [0] * 20),  # 0%
        ]
    )
    frame = differences_frame(pq, n_resamples=1000)
    rank1 = frame[frame["metric"] == "rank1"]
    got = {
        (r.method, r.method_vis, r.reference, r.reference_vis): round(r.difference, 6)
        for r in rank1.itertuples()
    }
    assert got == {
        ("pcb", True, "baseline", True): 0.0,
        ("hpnet", True, "baseline", True): 30.0,
        ("hpnet", False, "hpnet", True): -40.0,
        ("hpnet_wo_coco", True, "hpnet", True): -10.0,
        ("my_plugin_net", True, "baseline", True): -50.0,
    }, f"rows, references and differences in points: {got}"
    ap = frame[(frame["metric"] == "mAP") & (frame["method"] == "hpnet") & frame["method_vis"]]
    assert ap["difference"].iloc[0] == pytest.approx(30.0 * 0.75), "AP 1 vs 0.25 per hit"
    assert (rank1["low"] <= rank1["difference"]).all() and (
        rank1["difference"] <= rank1["high"]
    ).all()
    text = render_confidence(pq, "md", n_resamples=1000)
    assert "**differences-synthetic**" in text
    assert "| HPNet, test w/o vis | HPNet | Occluded-REID | -40.0 |" in text
    assert "PCB, test w/o vis" not in text.split("**differences-synthetic**")[1].split("**")[0]
    assert "\\label{tab:differences-synthetic}" in render_confidence(pq, "latex", 1000)
