"""Stored examples for figures: ranking lists (paper Fig. 5) and predicted part masks (Figs. 3, 6).

Saved at evaluation time into the method's run folder, so ``figures`` never needs the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmark.atomic import write_json_atomic
from benchmark.evaluation.distance import distance_matrix
from benchmark.evaluation.features import FeatureBank
from benchmark.training.data import ReIDImages, collate
from datasets.base import Splits

EXAMPLES_JSON = "examples.json"
MASKS_NPZ = "masks.npz"


def pick_queries(n_queries: int, count: int) -> list[int]:
    """``count`` query indices spread evenly over the query set (deterministic)."""
    return sorted({int(i) for i in np.linspace(0, n_queries - 1, min(count, n_queries))})


def save_rankings(
    splits: Splits,
    query: FeatureBank,
    gallery: FeatureBank,
    out_dir: Path,
    count: int = 6,
    top: int = 10,
) -> Path:
    """Top-``top`` gallery images of ``count`` queries with right/wrong flags, as JSON."""
    picks = pick_queries(len(query), count)
    sub = FeatureBank(
        query.features[picks], query.visibility[picks], query.pids[picks], query.camids[picks]
    )
    dist = distance_matrix(sub, gallery)  # [count, G]
    order = torch.argsort(dist, dim=1, stable=True)[:, :top]  # ties: gallery order
    rows = []
    for row, qi in zip(order.tolist(), picks, strict=True):
        rows.append(
            {
                "query": str(splits.query[qi].path),
                "gallery": [str(splits.gallery[g].path) for g in row],
                "correct": [bool(gallery.pids[g] == query.pids[qi]) for g in row],
            }
        )
    return write_json_atomic({"dataset": splits.name, "rankings": rows}, out_dir / EXAMPLES_JSON)


@torch.no_grad()
def save_masks(model, splits: Splits, size: tuple[int, int], device, out_dir: Path, count: int = 8):
    """Predicted part maps (0 background, 1..P the most likely part with G > 0.5) of queries."""
    model.eval()
    picks = pick_queries(len(splits.query), count)
    batch = collate(
        [ReIDImages([splits.query[i] for i in picks], size)[k] for k in range(len(picks))]
    )
    out = model(batch["images"].to(device))
    if out.masks is None:
        return None
    probs = out.masks.float().cpu()  # [n, P, h, w]
    best, part = probs.max(dim=1)
    maps = torch.where(best > 0.5, part + 1, 0).to(torch.uint8).numpy()  # [n, h, w]
    paths = np.array([str(splits.query[i].path) for i in picks])
    tmp = out_dir / (MASKS_NPZ + ".tmp.npz")
    np.savez(tmp, maps=maps, paths=paths)
    return tmp.replace(out_dir / MASKS_NPZ)


def load_rankings(method_dir: Path) -> list[tuple]:
    data = json.loads((method_dir / EXAMPLES_JSON).read_text())
    return [(r["query"], r["gallery"], r["correct"]) for r in data["rankings"]]


def load_masks(
    method_dir: Path, size: tuple[int, int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images resized to ``size`` and their part maps upsampled to match (nearest)."""
    from PIL import Image

    from benchmark.training.data import read_image

    data = np.load(method_dir / MASKS_NPZ)
    images = [read_image(Path(p), size) for p in data["paths"]]
    maps = [
        np.asarray(Image.fromarray(m).resize((size[1], size[0]), Image.NEAREST))
        for m in data["maps"]
    ]
    return images, maps


def method_dirs(root: Path) -> list[Path]:
    """Every trained method's folder (``methods/<name>-seed<k>``) under ``root``."""
    return sorted(p.parent for p in Path(root).rglob("methods/*/cmc.npz"))


def write_example_figures(
    root: Path, out_dir: Path, size: tuple[int, int] = (128, 64)
) -> list[Path]:
    """CMC curves, ranking lists and part overlays from the examples stored under ``root``."""
    from benchmark.reporting.figures import cmc_curves, part_overlays, ranking_lists

    written, curves = [], {}
    for mdir in method_dirs(root):
        name = mdir.name
        stored = np.load(mdir / "cmc.npz")
        for key in stored.files:
            dataset, mode, vis = key.split("/")[:3]
            if key.count("/") == 2 and mode == "multi" and vis == "vis=True":
                curves.setdefault(dataset, {})[name] = stored[key]
        if (mdir / EXAMPLES_JSON).exists():
            written.append(ranking_lists(load_rankings(mdir), out_dir / f"ranking_{name}.png"))
        if (mdir / MASKS_NPZ).exists():
            images, maps = load_masks(mdir, size)
            written.append(part_overlays(images, maps, out_dir / f"parts_{name}.png"))
    for dataset, per_method in sorted(curves.items()):
        title = f"CMC, {dataset} (multi-gallery-shot)"
        written.append(cmc_curves(per_method, out_dir / f"cmc_curve_{dataset}.png", title))
    return written
