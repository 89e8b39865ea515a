"""A method and a data set added from outside the repository show their own labels everywhere.

The plug-in module is written into a temporary folder and imported with ``--plugin``, in a
subprocess each time, so its registrations never leak into the other tests' registries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.benchmark.reporting.result_rows import frame, rows

PLUGIN = "occreid_demo_plugin"
PLUGIN_SOURCE = '''
"""A third-party plug-in: one method and one data set with their own display metadata."""

from pathlib import Path

from reid_datasets.base import ExpectedCounts, Sample, Splits, register_dataset
from reid_datasets.layout import DatasetLayout
from reid_methods.base import register_method
from reid_methods.baseline import Baseline, BaselineConfig

LAYOUT = DatasetLayout("my_occluded", ("MyOccluded",), ("query", "gallery"))


@register_method("my_net", BaselineConfig(), label="MyNet (ours)", latex=r"\\textsc{MyNet}")
class MyNet(Baseline):
    """The baseline under its own name: all a display test needs."""


@register_dataset(
    "my_occluded",
    expected=ExpectedCounts(query=(2, 2), gallery=(2, 4)),
    display="My-Occluded",
    roles=("test",),
    layout=LAYOUT,
)
def load_my_occluded(root: Path, strict: bool = True) -> Splits:
    base = LAYOUT.find(Path(root))

    def scan(folder: str, camid: int) -> tuple[Sample, ...]:
        files = sorted((base / folder).glob("*.jpg"))
        return tuple(Sample(p, int(p.stem.split("_")[0]), camid) for p in files)

    return Splits("my_occluded", query=scan("query", 0), gallery=scan("gallery", 1))
'''
# Saves the figures of a results folder and prints what each one plotted, as JSON.
FIGURE_SCRIPT = """
import json, sys
from matplotlib.figure import Figure
import reid_datasets, reid_methods, {plugin}
from benchmark.reporting.figures import write_figures
from benchmark.store.results import load_results

plotted, savefig = [], Figure.savefig
def spy(fig, *args, **kwargs):
    plotted.append(fig)
    return savefig(fig, *args, **kwargs)
Figure.savefig = spy
paths = write_figures(load_results(sys.argv[1]), sys.argv[2])
def legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []
print(json.dumps({{
    p.name: {{
        "title": fig.axes[0].get_title(),
        "ticks": [t.get_text() for t in fig.axes[0].get_xticklabels()],
        "legend": legend(fig.axes[0]),
    }}
    for p, fig in zip(paths, plotted, strict=True)
}}))
"""


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugin")
    (folder / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    return folder


def run(*args: str, plugin_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"},
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stderr[-2000:]}"
    return proc


def cli(*args: str, plugin_dir: Path, cwd: Path) -> str:
    return run("-m", "benchmark", "--plugin", PLUGIN, *args, plugin_dir=plugin_dir, cwd=cwd).stdout


def _results_dir(folder: Path) -> Path:
    groups = []
    for method, base in (("my_net", 0.7), ("hpnet", 0.8), ("baseline", 0.6)):
        for dataset, query_set in (("my_occluded", "query"), ("occluded_reid", None)):
            metrics = {"rank1": base, "rank3": base + 0.1, "rank5": base + 0.15, "mAP": base - 0.1}
            groups.append(rows(method, dataset, query_set=query_set, **metrics))
    folder.mkdir()
    frame(*groups).to_csv(folder / "results.csv", index=False)
    return folder


def test_plugin_appears_in_list_and_datasets_check(plugin_dir, tmp_path):
    listing = cli("list", plugin_dir=plugin_dir, cwd=tmp_path)
    assert "my_net" in listing and "MyNet (ours)" in listing, listing
    assert "my_occluded" in listing and "My-Occluded  (test)" in listing, listing
    root = tmp_path / "data"
    for split, count in (("query", 2), ("gallery", 4)):
        (root / "MyOccluded" / split).mkdir(parents=True)
        for k in range(count):
            image = np.full((32, 16, 3), 40 * k, dtype=np.uint8)
            Image.fromarray(image).save(root / "MyOccluded" / split / f"{k % 2 + 1}_{k}.jpg")
    report = cli("datasets", "check", "--root", str(root), plugin_dir=plugin_dir, cwd=tmp_path)
    line = next((x for x in report.splitlines() if "My-Occluded" in x and "gallery" in x), None)
    assert line is not None and "| ok" in line, report
    assert "| Market-1501 " not in report, "only the plug-in's data set lies under the root"
    assert "missing: market1501 (Market-1501" in report, "the built-ins not found are named"


def _md_labels(text: str, title: str) -> tuple[list[str], list[str]]:
    """Header and row labels of the Markdown table whose caption starts with ``title``."""
    block = text[text.index(f"**{title}**") :].split("\n\n")[1]
    lines = [line.strip("|").split(" | ") for line in block.splitlines()]
    return [c.strip() for c in lines[0]], [cells[0].strip() for cells in lines[2:]]


def test_plugin_labels_in_tables_and_figures(plugin_dir, tmp_path):
    results = _results_dir(tmp_path / "run")
    md = cli("tables", str(results), plugin_dir=plugin_dir, cwd=tmp_path)
    header, labels = _md_labels(md, "all_multi")
    assert labels == ["Baseline", "HPNet", "MyNet (ours)"], f"plug-in after the built-ins: {labels}"
    assert header[3:] == ["My-Occluded R1", "My-Occluded mAP"], f"after built-in sets: {header}"
    assert "My-Occluded: query" in md, "the protocol caption names the plug-in data set"
    latex = cli("tables", str(results), "--format", "latex", plugin_dir=plugin_dir, cwd=tmp_path)
    assert r"\textsc{MyNet} &" in latex and r"\multicolumn{2}{c}{My-Occluded}" in latex, latex
    out = tmp_path / "figures"
    script = FIGURE_SCRIPT.format(plugin=PLUGIN)
    plotted = json.loads(
        run("-c", script, str(results), str(out), plugin_dir=plugin_dir, cwd=tmp_path).stdout
    )
    bars = plotted["bars_my_occluded.png"]
    assert bars["ticks"] == ["Baseline", "HPNet", "MyNet (ours)"], bars
    assert bars["title"] == "My-Occluded, multi-gallery-shot", bars
    assert "MyNet (ours)" in plotted["cmc_my_occluded.png"]["legend"], plotted


def test_without_the_plugin_its_rows_fall_back_to_their_names(plugin_dir, tmp_path):
    results = _results_dir(tmp_path / "run")
    text = run("-m", "benchmark", "tables", str(results), plugin_dir=plugin_dir, cwd=tmp_path)
    header, labels = _md_labels(text.stdout, "all_multi")
    assert labels == ["Baseline", "HPNet", "my_net"], labels
    assert "my_occluded R1" in header, header
