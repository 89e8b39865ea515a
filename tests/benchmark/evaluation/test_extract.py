"""evaluate_splits: every protocol's metrics and CMC curve, the features, and no file written."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from benchmark.evaluation.extract import SetEvaluation, evaluate_splits
from benchmark.evaluation.protocols import evaluate
from benchmark.evaluation.rerank import RerankParams
from reid_datasets.base import Sample, Splits
from reid_methods import build_method


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
    found = evaluate_splits(
        model,
        splits,
        (32, 16),
        torch.device("cpu"),
        modes=("multi", "single"),
        trials=2,
        batch_size=4,
    )
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


def test_features_under_bf16_autocast_are_close_to_fp32_and_rank_alike(tmp_path) -> None:
    """The GPU path extracts under autocast; on the CPU bf16 autocast stands in for it."""
    from benchmark.evaluation.distance import distance_matrix
    from benchmark.evaluation.extract import extract

    rng = np.random.default_rng(1)
    samples, colour = [], np.zeros(3)
    for i in range(24):  # 8 identities x 3 images: a colour per identity plus noise
        if i % 3 == 0:
            colour = rng.integers(0, 255, 3)
        img = np.clip(colour + rng.normal(0, 40, (64, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"{i}.png")
        samples.append(Sample(tmp_path / f"{i}.png", i // 3, i % 3))
    torch.manual_seed(0)
    model = build_method("pcb", 8, backbone="resnet18_quarter")  # untrained HPNet masks: 0
    cpu = torch.device("cpu")
    full = extract(model, samples, (64, 32), 8, cpu, "fp32")
    half = extract(model, samples, (64, 32), 8, cpu, "bf16", precision="bf16")
    assert half.features.dtype == torch.float32, "features come back as float32"
    cos = torch.nn.functional.cosine_similarity(full.features, half.features, dim=-1)  # [N, P]
    assert not torch.equal(full.features, half.features), "the forward did not run in bf16"
    assert cos.min() > 0.999, f"bf16 part features drift from fp32: min cosine {cos.min():.4f}"
    d32 = distance_matrix(full, full, use_visibility=False)
    d16 = distance_matrix(half, half, use_visibility=False)
    d32.fill_diagonal_(float("inf"))
    d16.fill_diagonal_(float("inf"))
    same_first = (d32.argmin(1) == d16.argmin(1)).float().mean()
    assert same_first >= 0.9, f"nearest neighbours differ for {1 - same_first:.0%} of images"
    finite = torch.isfinite(d32)
    moved = (d32[finite] - d16[finite]).abs().max()  # measured: 0.0024
    assert moved < 0.02, f"distances move by {moved:.4f} (of at most 2) under bf16"


def test_rerank_adds_its_own_rows_beside_the_plain_ones(tmp_path, monkeypatch):
    (tmp_path / "imgs").mkdir()
    splits = _splits(tmp_path / "imgs")
    torch.manual_seed(0)
    model = build_method("baseline", 3, backbone="resnet18_quarter")
    params = RerankParams(k1=3, k2=2, lam=0.3)
    found = evaluate_splits(
        model, splits, (32, 16), torch.device("cpu"), modes=("multi",), batch_size=4, rerank=params
    )
    assert [r.context["distance"] for r in found.results] == [
        "paper",
        "paper+rerank(k1=3,k2=2,lambda=0.3)",
    ]
    plain, reranked = found.results
    want = evaluate(found.query, found.gallery, rerank=params)
    assert reranked.metrics == want.to_dict()
    assert plain.metrics == evaluate(found.query, found.gallery).to_dict()
