"""Figure data of a method: CMC curves, ranking lists (Fig. 5), predicted masks (Figs. 3, 6).

The runner writes them into the method's run folder (``methods/<name>-seed<k>/``), so
``figures`` never needs the model; ``write_example_figures`` draws them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from benchmark.atomic import atomic_path, write_csv_atomic, write_json_atomic
from benchmark.errors import DataError
from benchmark.evaluation.distance import distance_matrix
from benchmark.evaluation.features import FeatureBank
from benchmark.loading.data import ReIDImages, collate, read_image
from benchmark.reporting.figures import cmc_curves, part_overlays, ranking_lists
from benchmark.reporting.labels import dataset_label, row_label
from benchmark.reporting.ranklist_data import ranked_gallery, subset
from benchmark.reporting.ranklist_figure import default_ranklists
from reid_datasets.base import Splits, dataset_info

CMC_CSV = "cmc.csv"
EXAMPLES_JSON = "examples.json"
MASKS_NPZ = "masks.npz"
# One row per protocol and rank: which curve (the result row's condition columns) and its value.
CMC_COLUMNS = ("dataset", "query_set", "mode", "distance", "vis", "occlusion", "rank", "value")


def pick_queries(n_queries: int, count: int) -> list[int]:
    """``count`` query indices spread evenly over the query set (deterministic)."""
    return sorted({int(i) for i in np.linspace(0, n_queries - 1, min(count, n_queries))})


def cmc_rows(
    context: Mapping[str, Any], cmc: np.ndarray, occlusion: float | None
) -> list[dict[str, Any]]:
    """Tidy ``CMC_COLUMNS`` rows of one protocol's curve (``cmc[k - 1]`` = Rank-k)."""
    where = {c: context[c] for c in CMC_COLUMNS[:5]} | {"occlusion": occlusion}
    return [where | {"rank": k, "value": float(v)} for k, v in enumerate(np.asarray(cmc), 1)]


def save_cmc(rows: Sequence[Mapping[str, Any]], out_dir: Path) -> Path:
    """Write CMC rows (see ``cmc_rows``) as ``out_dir/cmc.csv`` atomically."""
    frame = pd.DataFrame(list(rows), columns=list(CMC_COLUMNS))
    return write_csv_atomic(frame, Path(out_dir) / CMC_CSV)


def load_cmc(method_dir: Path) -> pd.DataFrame:
    """The CMC rows of one method folder, typed (bool vis, float occlusion, NaN = none)."""
    path = Path(method_dir) / CMC_CSV
    frame = pd.read_csv(path)
    missing = [c for c in CMC_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks columns {', '.join(missing)}; rerun the evaluation")
    frame["vis"] = frame["vis"].astype(str).str.lower() == "true"
    return frame.astype({"occlusion": float, "rank": int, "value": float})


def save_rankings(
    splits: Splits,
    query: FeatureBank,
    gallery: FeatureBank,
    out_dir: Path,
    count: int = 6,
    top: int = 10,
    distance: str = "paper",
) -> Path:
    """Top-``top`` gallery images of ``count`` queries with right/wrong flags, as JSON, ranked as
    the evaluation ranks (``ranked_gallery``) under the run's ``distance``."""
    picks = pick_queries(len(query), count)
    sub = subset(query, picks)
    dist = distance_matrix(sub, gallery, distance=distance)  # [count, G]
    order = ranked_gallery(dist, sub, gallery, dataset_info(splits.name).market_ids, top)
    rows = []
    for row, qi in zip(order, picks, strict=True):
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
    with atomic_path(Path(out_dir) / MASKS_NPZ) as tmp:
        np.savez(tmp, maps=maps, paths=paths)
    return Path(out_dir) / MASKS_NPZ


def load_rankings(method_dir: Path) -> list[tuple]:
    data = json.loads((method_dir / EXAMPLES_JSON).read_text())
    return [(r["query"], r["gallery"], r["correct"]) for r in data["rankings"]]


def load_masks(
    method_dir: Path, size: tuple[int, int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images resized to ``size`` and their part maps upsampled to match (nearest)."""

    data = np.load(method_dir / MASKS_NPZ)
    images = [read_image(Path(p), size) for p in data["paths"]]
    maps = [
        np.asarray(Image.fromarray(m).resize((size[1], size[0]), Image.Resampling.NEAREST))
        for m in data["maps"]
    ]
    return images, maps


def method_dirs(root: Path) -> list[Path]:
    """Every evaluated method's folder (``methods/<name>-seed<k>``) under ``root``."""
    return sorted(p.parent for p in Path(root).rglob(f"methods/*/{CMC_CSV}"))


def input_size(method_dir: Path) -> tuple[int, int]:
    """The (height, width) the method's run fed the model, from the run's ``config.json``."""
    path = Path(method_dir).parent.parent / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        return int(data["height"]), int(data["width"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"cannot read the input size from {path} ({e}); is it a run folder?") from e


def multi_shot_curves(method_dir: Path) -> dict[str, np.ndarray]:
    """Data set -> the multi-gallery-shot CMC (with visibility, no occlusion) of a method."""
    cmc = load_cmc(method_dir)
    cmc = cmc[(cmc["mode"] == "multi") & cmc["vis"] & cmc["occlusion"].isna()]
    return {
        str(dataset): part.sort_values("rank")["value"].to_numpy()
        for dataset, part in cmc.groupby("dataset")
    }


def write_example_figures(root: Path, out_dir: Path) -> list[Path]:
    """CMC curves, ranking lists, part overlays and the default rank lists with parts (see
    ``ranklist_figure``) from the figure data stored under ``root``."""

    written: list[Path] = []
    curves: dict[str, dict[str, np.ndarray]] = {}
    for mdir in method_dirs(root):
        name = mdir.name  # "<method>-seed<seed>", as run_benchmark names the method folders
        method, _, seed = name.rpartition("-seed")
        label = f"{row_label(method, True)}, seed {seed}"
        for dataset, curve in multi_shot_curves(mdir).items():
            curves.setdefault(dataset, {})[label] = curve
        if (mdir / EXAMPLES_JSON).exists():
            written.append(ranking_lists(load_rankings(mdir), out_dir / f"ranking_{name}.png"))
        if (mdir / MASKS_NPZ).exists():
            images, maps = load_masks(mdir, input_size(mdir))
            written.append(part_overlays(images, maps, out_dir / f"parts_{name}.png"))
    written += default_ranklists(method_dirs(root), out_dir)  # parts, distances, used parts
    for dataset, per_method in sorted(curves.items()):
        title = f"CMC, {dataset_label(dataset)} (multi-gallery-shot)"
        written.append(cmc_curves(per_method, out_dir / f"cmc_curve_{dataset}.png", title))
    return written
