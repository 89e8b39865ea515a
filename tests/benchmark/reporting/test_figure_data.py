"""Figure data: the tidy CMC file, the input size from the run's config, the example figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import DataError
from benchmark.reporting import figure_data
from benchmark.reporting.figure_data import (
    CMC_COLUMNS,
    MASKS_NPZ,
    cmc_rows,
    input_size,
    load_cmc,
    multi_shot_curves,
    save_cmc,
    write_example_figures,
)


def _context(dataset: str, mode: str = "multi", vis: bool = True) -> dict:
    return {"dataset": dataset, "query_set": "q", "mode": mode, "distance": "paper", "vis": vis}


def _method_dir(tmp_path, height: int = 96, width: int = 48):
    run = tmp_path / "run1"
    mdir = run / "methods" / "hpnet-seed0"
    mdir.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data": {"height": height, "width": width}}))
    curves = cmc_rows(_context("occluded_reid"), np.linspace(0.5, 1.0, 10), None)
    curves += cmc_rows(_context("occluded_reid", vis=False), np.full(10, 0.1), None)
    curves += cmc_rows(_context("occluded_reid", "single"), np.full(10, 0.2), None)
    curves += cmc_rows(_context("occluded_reid"), np.full(10, 0.3), 0.4)
    curves += cmc_rows(_context("partial_reid"), np.full(10, 0.6), None)
    save_cmc(curves, mdir)
    return mdir


def test_cmc_file_is_tidy_and_reads_back_typed(tmp_path):
    mdir = _method_dir(tmp_path)
    cmc = load_cmc(mdir)
    assert tuple(cmc.columns) == CMC_COLUMNS, "one column per condition, rank and value"
    assert len(cmc) == 50 and cmc["vis"].dtype == bool and cmc["rank"].tolist()[:3] == [1, 2, 3]
    assert cmc["occlusion"].isna().sum() == 40 and set(cmc["occlusion"].dropna()) == {0.4}
    assert not list(mdir.glob("*.tmp*")), "written atomically"
    curves = multi_shot_curves(mdir)
    assert sorted(curves) == ["occluded_reid", "partial_reid"]
    np.testing.assert_allclose(curves["occluded_reid"], np.linspace(0.5, 1.0, 10))


def test_input_size_comes_from_the_run_config(tmp_path):
    assert input_size(_method_dir(tmp_path, 80, 40)) == (80, 40)
    (tmp_path / "run1" / "config.json").unlink()
    with pytest.raises(DataError, match="cannot read the input size"):
        input_size(tmp_path / "run1" / "methods" / "hpnet-seed0")


def test_example_figures_use_the_runs_input_size(tmp_path, monkeypatch):
    mdir = _method_dir(tmp_path, 96, 48)
    paths = []
    for k in range(2):
        paths.append(str(tmp_path / f"q{k}.png"))
        Image.fromarray(np.full((100, 50, 3), 90, np.uint8)).save(paths[-1])
    np.savez(mdir / MASKS_NPZ, maps=np.ones((2, 24, 12), np.uint8), paths=np.array(paths))
    seen = {}

    def record(images, maps, out):
        seen["shapes"] = [(i.shape, m.shape) for i, m in zip(images, maps, strict=True)]
        return out

    monkeypatch.setattr(figure_data, "part_overlays", record)
    written = write_example_figures(tmp_path, tmp_path / "figs")
    assert seen["shapes"] == [((96, 48, 3), (96, 48))] * 2, "overlays at the run's input size"
    names = sorted(p.name for p in written)
    assert names == [
        "cmc_curve_occluded_reid.png",
        "cmc_curve_partial_reid.png",
        "parts_hpnet-seed0.png",
    ]
    assert figure_data.method_dirs(tmp_path) == [mdir]
