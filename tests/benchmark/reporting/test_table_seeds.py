"""Cells over seeds: mean ± sample std (ddof=1) from two seeds on, one seed a single number."""

from __future__ import annotations

from benchmark.reporting.table_build import SPECS, build
from benchmark.reporting.table_render import render_tables
from tests.benchmark.reporting.result_rows import frame, rows


def test_three_seeds_show_mean_and_sample_std_one_seed_a_number() -> None:
    groups = [
        rows("hpnet", "occluded_reid", seed=s, labels="gt", rank1=r, mAP=0.5)
        for s, r in ((0, 0.80), (1, 0.82), (2, 0.87))
    ]
    groups.append(rows("baseline", "occluded_reid", seed=0, rank1=0.75, mAP=0.4))
    text = render_tables(build(frame(*groups), SPECS["table3"]), "md")
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if "|" in line}
    # 80, 82, 87: mean 83, squared deviations 9 + 1 + 16 = 26, / (3 - 1) = 13, sqrt = 3.61
    assert "83.0 ± 3.6" in lines["HPNet"], f"mean ± std over 3 seeds: {lines['HPNet']}"
    assert "50.0 ± 0.0" in lines["HPNet"], "equal seeds: std 0, still shown"
    assert "| _75.0_ |" in lines["Baseline"] and "±" not in lines["Baseline"], lines["Baseline"]
    assert "ddof=1" in text and "over 1-3 seeds" in text, "the caption names the std and counts"
