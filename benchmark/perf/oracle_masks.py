"""How far a part method's parsing holds it back: its Rank-1 under the true masks; on request.

    python -m benchmark.perf.oracle_masks RUN_DIR [--method hpnet] [--seed 0] [--out CSV]

On every test set of a synthetic run (its protocol presentation: Partial-REID's crops stretched to
the input, as the tables score them) the same trained weights are scored three ways,
multi-gallery-shot, with visibility:

- ``model``: the method as evaluated (its masks G > T on queries and gallery).
- ``truth on queries``: each query's masks replaced by its ground-truth part cells on the Conv5
  grid (resized as the method's training resized its labels: area coverage, or nearest for
  ``label_resize=nearest``), the gallery keeping the model's masks.
- ``truth everywhere``: the true cells on queries and gallery.

The method's Conv5 features and BN necks are unchanged; only where each part is pooled and which
parts count as visible change. If ``truth on queries`` lifts the stretched crops to what the
crops score in place (``python -m benchmark zoom``), the parsing of zoomed people is what costs
the Rank-1; if it does not, the features themselves do not carry across the zoom. A diagnosis:
nothing here is a setting, and no table uses the true masks.

Writes a tidy CSV (method, seed, dataset, query_set, masks, metric, value) and prints Rank-1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from benchmark.atomic import write_csv_atomic
from benchmark.config import loader_options
from benchmark.errors import DataError, UserError
from benchmark.evaluation.extract import extract, query_set_name
from benchmark.evaluation.parsing_truth import with_truth
from benchmark.evaluation.protocols import evaluate
from benchmark.export.onnx_export import load_trained
from benchmark.loading.data import ReIDImages
from benchmark.loading.roots import data_root, load_test_set
from benchmark.precision import resolve_precision
from benchmark.reporting.labels import dataset_label
from reid_datasets.base import Sample, dataset_info
from reid_methods.base import Output
from reid_methods.losses import nearest_targets, part_targets

MASKS = ("model", "truth on queries", "truth everywhere")


class ImagesWithTruth(Dataset):
    """``ReIDImages`` items whose image carries the 4-part label as a 4th channel."""

    def __init__(self, samples: Sequence[Sample], size: tuple[int, int]) -> None:
        self.images = ReIDImages(samples, size, with_parts=True)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor, int]:
        image, label, parts, index = self.images[i]
        stacked = torch.cat([image, parts[None].to(image.dtype)])  # [4, H, W]
        return stacked, label, torch.empty(0, dtype=torch.uint8), index


class PartMethod(Protocol):
    """What ``TrueMasks`` needs of a method: its Conv5 maps and masks, and pooling under masks."""

    def part_maps(self, images: Tensor) -> tuple[list[Tensor], Tensor]: ...

    def pool_parts(self, fmaps: list[Tensor], probs: Tensor) -> Output: ...


class TrueMasks(nn.Module):
    """A part method (``part_maps`` and ``pool_parts``, as HPNet has) pooled under the true
    part cells: the input's 4th channel is the 4-part label at the input size."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # the labels reach the Conv5 grid as the method's training resized them
        nearest = getattr(getattr(model, "cfg", None), "label_resize", "coverage") == "nearest"
        self.resize = nearest_targets if nearest else part_targets

    def forward(self, x: Tensor) -> Output:
        method = cast(PartMethod, self.model)
        fmaps, probs = method.part_maps(x[:, :3])
        labels = x[:, 3].round().to(torch.uint8)  # exact: small integers survive any cast
        truth, _ = self.resize(labels, probs.shape[1], (probs.shape[-2], probs.shape[-1]))
        return method.pool_parts(fmaps, truth.to(probs.dtype))


def oracle_rows(run_dir: Path, method: str, seed: int | None) -> pd.DataFrame:
    """Tidy rows (method, seed, dataset, query_set, masks, metric, value) of every test set."""
    trained = load_trained(run_dir, method, seed)
    cfg, model = trained.cfg, trained.model
    if not (hasattr(model, "part_maps") and hasattr(model, "pool_parts")):
        raise UserError(f"method {method} has no part masks to replace; pick hpnet or a variant")
    root, kind = data_root(cfg.data.root, cfg.data.synth_profile, cfg.data.synth_overrides())
    if kind != "synthetic":
        raise DataError(f"{run_dir} ran on real data; the true masks exist on synthetic data only")
    size, device = (cfg.data.height, cfg.data.width), torch.device("cpu")
    precision = resolve_precision(cfg.train.amp, device)  # the run's, so "model" = its rows
    oracle = TrueMasks(model)
    rows = []
    for name in cfg.eval.datasets:
        splits = load_test_set(name, root, loader_options(cfg, name))
        query, gallery = with_truth(root, splits.query), with_truth(root, splits.gallery)
        banks = {}
        for side, samples in (("query", query), ("gallery", gallery)):
            banks[side] = extract(
                model,
                samples,
                size,
                cfg.eval.batch_size,
                device,
                f"{name} {side}",
                precision=precision,
            )
            banks[f"{side} (truth)"] = extract(
                oracle,
                samples,
                size,
                cfg.eval.batch_size,
                device,
                f"{name} {side} (truth)",
                precision=precision,
                images=ImagesWithTruth(samples, size),
            )
        model_q, model_g = banks["query"], banks["gallery"]
        true_q, true_g = banks["query (truth)"], banks["gallery (truth)"]
        pairs = dict(
            zip(MASKS, ((model_q, model_g), (true_q, model_g), (true_q, true_g)), strict=True)
        )
        for masks, (q, g) in pairs.items():
            result = evaluate(
                q,
                g,
                mode="multi",
                distance=cfg.eval.distance,
                market_ids=dataset_info(name).market_ids,
            )
            for metric in ("rank1", "mAP"):
                rows.append(
                    {"method": method, "seed": trained.seed, "dataset": name}
                    | {"query_set": query_set_name(splits), "masks": masks}
                    | {"metric": metric, "value": float(result.to_dict()[metric])}
                )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a finished run folder on synthetic data")
    p.add_argument("--method", default="hpnet", help="a part method of the run (default: hpnet)")
    p.add_argument("--seed", type=int, help="which seed's job (default: the lowest)")
    p.add_argument("--out", type=Path, help="CSV to write (default RUN_DIR/oracle_masks.csv)")
    args = p.parse_args(argv)
    try:
        frame = oracle_rows(args.run_dir, args.method, args.seed)
    except UserError as e:  # a bad folder, method or checkpoint: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = write_csv_atomic(frame, args.out or args.run_dir / "oracle_masks.csv")
    r1 = frame[frame["metric"] == "rank1"].assign(dataset=lambda f: f["dataset"].map(dataset_label))
    table = r1.pivot_table(index="dataset", columns="masks", values="value", sort=False)
    print("Rank-1 (%), multi-gallery-shot:\n" + (100 * table[list(MASKS)]).round(1).to_markdown())
    print(f"rows: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
