"""Rank lists and the HTML report of a real smoke run, the report checked in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.reporting.ranklist_data import load_ranklist_data, query_aps
from tests.integration.conftest import run_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CONSOLE = re.compile(r":(?:INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[^\]]*\] (.*)")


def test_stored_banks_reproduce_the_runs_map_and_worst_rule_uses_them(smoke_run_dir) -> None:
    mdir = smoke_run_dir / "methods" / "hpnet-seed0"
    data = load_ranklist_data(mdir, "occluded_reid")
    assert data.query_maps is not None and data.query_maps.shape[0] == len(data.query)
    aps = query_aps(data)
    rows = pd.read_csv(smoke_run_dir / "results.csv")
    sel = rows[(rows.method == "hpnet") & (rows.dataset == "occluded_reid")]
    sel = sel[(sel["mode"] == "multi") & sel.vis & (sel.metric == "mAP")]
    assert float(np.nanmean(aps)) == pytest.approx(float(sel.value.iloc[0]), abs=1e-9), (
        "the stored features are the ones the evaluation scored"
    )
    out = smoke_run_dir / "figures" / "ranklist_hpnet-seed0_occluded_reid_worst.png"
    args = ("--method", "hpnet", "--seed", "0", "--dataset", "occluded_reid", "--rule", "worst")
    proc = run_cli("ranklist", str(smoke_run_dir), *args, "--queries", "2",
                   cwd=smoke_run_dir.parent.parent)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = pd.read_csv(out.with_suffix(".csv"))
    lowest = np.lexsort((np.arange(len(aps)), np.nan_to_num(aps, nan=np.inf)))[:2]
    assert sorted(frame["query"].unique()) == sorted(lowest.tolist()), "the lowest-AP queries"
    assert set(frame["rank"]) == {1, 2, 3, 4, 5} and Image.open(out).width > 300


def test_ranklist_of_a_method_without_masks_and_bad_input(smoke_run_dir, tmp_path) -> None:
    out = tmp_path / "ranklist_baseline-seed0_partial_reid_random.png"
    args = ("--method", "baseline", "--dataset", "partial_reid", "--topk", "3")
    args += ("--out", str(tmp_path))
    proc = run_cli("ranklist", str(smoke_run_dir), *args, cwd=smoke_run_dir.parent.parent)
    assert proc.returncode == 0 and out.exists(), proc.stderr[-2000:]
    frame = pd.read_csv(out.with_suffix(".csv"))
    assert set(frame["part"]) == {1} and frame["used"].all(), "P = 1, always visible"
    for bad, message in (
        (("--method", "pcb", "--dataset", "occluded_reid"), "no method 'pcb'"),
        (("--method", "hpnet", "--dataset", "occluded_reid", "--rule", "best"), "--rule 'best'"),
        (("--method", "hpnet", "--dataset", "nowhere"), "no rank-list data for nowhere"),
    ):
        proc = run_cli("ranklist", str(smoke_run_dir), *bad, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr


def find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def test_report_loads_in_headless_chromium(smoke_run_dir, tmp_path) -> None:
    figs = run_cli("figures", str(smoke_run_dir), cwd=smoke_run_dir.parent.parent)
    assert figs.returncode == 0, figs.stderr[-2000:]
    assert "ranklist_hpnet-seed0_occluded_reid_random.png" in figs.stdout, "the default rank list"
    out = tmp_path / "report.html"
    proc = run_cli("report", str(smoke_run_dir), "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
    browser = find_browser()
    if browser is None:
        pytest.skip("no headless browser: install Debian's chromium (apt-get install -y chromium)")
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
           "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
           f"--screenshot={shot}", "--dump-dom", out.as_uri()]  # fmt: skip
    page = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert page.returncode == 0, page.stderr[-2000:]
    console = CONSOLE.findall(page.stderr)
    assert not console, f"console messages on a page without scripts: {console}"
    dom = page.stdout
    assert dom.count("<table") >= 4 and "Occluded-REID" in dom and "HPNet" in dom, dom[:500]
    srcs = re.findall(r'<img[^>]*src="([^"]{0,30})', dom)
    assert srcs and all(s.startswith("data:image/png") for s in srcs), "every image inlined"
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10, f"the screenshot looks blank (pixel std {pixels.std():.1f})"
