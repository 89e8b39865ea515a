"""evaluate_splits: every protocol's metrics and CMC curve, the features, and no file written."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from benchmark.config import EvalConfig
from benchmark.evaluation.extract import SetEvaluation, evaluate_splits
from datasets.base import Sample, Splits
from methods import build_method


def _splits(root) -> Splits:
    rng = np.random.default_rng(0)
    query, gallery = [], []
    for pid in range(3):
        for k, side in enumerate(("q", "g", "g")):
            img = rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)
            path = root / f"{side}{pid}_{k}.png"
            Image.fromarray(img).save(path)
            (query if side == "q" else gallery).append(Sample(path, pid, int(side == "g")))
    return Splits("toy", query=tuple(query), gallery=tuple(gallery))


def test_evaluate_splits_returns_results_and_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "imgs").mkdir()
    splits = _splits(tmp_path / "imgs")
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = build_method("pcb", 3, backbone="resnet18_quarter")  # P = 6: also "w/o vis"
    cfg = EvalConfig(modes=("multi", "single"), trials=2, batch_size=4)
    found = evaluate_splits(model, splits, cfg, (32, 16), torch.device("cpu"))
    assert isinstance(found, SetEvaluation)
    assert len(found.query) == 3 and len(found.gallery) == 6, "the features come back"
    protocols = [(r.context["mode"], r.context["vis"]) for r in found.results]
    assert protocols == [("multi", True), ("multi", False), ("single", True), ("single", False)]
    first = found.results[0]
    assert first.context == {
        "dataset": "toy",
        "query_set": "query",
        "mode": "multi",
        "distance": "paper",
        "vis": True,
    }
    assert first.cmc[0] == first.metrics["rank1"] and first.cmc[9] == first.metrics["rank10"]
    assert found.results[2].metrics["trials"] == 2, "single-shot rows say how many trials"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"], "evaluation writes no file"
