"""Rank-list data (the paper's Fig. 5 made inspectable): stored features and part maps of a test
set, the query selection rules, and the per-part eq. (1) distances of each query's top-k.

The runner stores, per main test set, ``ranklist_<dataset>.npz`` in the method's folder: the
query and gallery features and visibility exactly as the evaluation used them, their pids,
cameras and paths, and each image's predicted part map (recorded by a forward hook during the
evaluation's own extraction, so no second forward pass is made). ``ranklist`` and ``figures``
then need no model. Every distance here comes from ``distance_matrix`` (the evaluation's code
path): a part's distance is ``distance_matrix`` on that part alone with visibility forced to 1,
which is eq. (1)'s per-part term ``||f1_j - f2_j||`` of unit features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from benchmark.atomic import atomic_path
from benchmark.errors import DataError
from benchmark.evaluation.distance import distance_matrix
from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.ranking import rank_queries
from reid_datasets.base import Splits, dataset_info

RANKLIST_NPZ = "ranklist_{}.npz"
RULES = ("random", "worst", "pattern:BITS")
FRAME_COLUMNS = (
    "query", "query_path", "query_ap", "query_pattern", "rank", "gallery", "gallery_path",
    "correct", "total", "part", "part_distance", "query_visible", "gallery_visible", "used",
)  # fmt: skip


@dataclass(frozen=True)
class RanklistData:
    """What a rank list of one method on one test set is drawn from.

    Attributes:
        dataset: the test set's registry name.
        query, gallery: features [N, P, D], visibility [N, P], pids, camids as evaluated.
        query_paths, gallery_paths: image paths, in bank order.
        query_maps, gallery_maps: [N, h, w] uint8 part maps (0 background, j = part j), or None
            for a method without masks.
        market_ids: Market-1501's pid codes apply (pid < 0 junk is never listed).
    """

    dataset: str
    query: FeatureBank
    gallery: FeatureBank
    query_paths: tuple[str, ...]
    gallery_paths: tuple[str, ...]
    query_maps: np.ndarray | None
    gallery_maps: np.ndarray | None
    market_ids: bool = False


def part_maps(masks: Tensor) -> np.ndarray:
    """[N, h, w] uint8 map of the most likely part with G > 0.5 (0 = none) from [N, P, h, w]."""
    best, part = masks.detach().float().cpu().max(dim=1)
    return torch.where(best > 0.5, part + 1, 0).to(torch.uint8).numpy()


class MaskRecorder:
    """Context manager: a forward hook that keeps the part maps of every batch the model sees.

    Wrapped around ``evaluate_splits`` it records the query batches, then the gallery batches,
    in order (the extraction's loaders do not shuffle).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.maps: list[np.ndarray] = []
        self.without_masks = False

    def _hook(self, module, inputs, out) -> None:
        if out.masks is None:
            self.without_masks = True
        else:
            self.maps.append(part_maps(out.masks))

    def __enter__(self) -> MaskRecorder:
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()

    def split(self, num_query: int, num_gallery: int) -> tuple[np.ndarray | None, ...]:
        """(query maps, gallery maps) of the main query set and the gallery, extracted first
        (the maps of a set's other query sets follow), or (None, None) without masks."""
        if self.without_masks or not self.maps:
            return None, None
        maps = np.concatenate(self.maps)  # the main query set, the gallery, then any other
        assert len(maps) >= num_query + num_gallery, (
            f"{len(maps)} maps for {num_query}+{num_gallery}"
        )
        return maps[:num_query], maps[num_query : num_query + num_gallery]


def save_ranklist_data(data: RanklistData, out_dir: Path) -> Path:
    """Write ``data`` as ``out_dir/ranklist_<dataset>.npz`` atomically."""
    arrays = {"dataset": np.array(data.dataset), "market_ids": np.array(data.market_ids)}
    for side, bank, paths, maps in (
        ("q", data.query, data.query_paths, data.query_maps),
        ("g", data.gallery, data.gallery_paths, data.gallery_maps),
    ):
        arrays |= {
            f"{side}_features": bank.features.float().numpy(),
            f"{side}_visibility": bank.visibility.float().numpy(),
            f"{side}_pids": bank.pids.numpy(),
            f"{side}_camids": bank.camids.numpy(),
            f"{side}_paths": np.array(paths, dtype=str),
        }
        if maps is not None:
            arrays[f"{side}_maps"] = maps
    out = Path(out_dir) / RANKLIST_NPZ.format(data.dataset)
    with atomic_path(out) as tmp:
        # mypy matches **arrays against savez_compressed's allow_pickle: bool; keys are names
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    return out


def store_ranklist_data(
    splits: Splits, query: FeatureBank, gallery: FeatureBank, recorder: MaskRecorder, out_dir: Path
) -> Path:
    """Store a test set's evaluated banks, paths and recorded part maps (``ranklist_<set>.npz``)."""
    qmaps, gmaps = recorder.split(len(query), len(gallery))
    qpaths, gpaths = (tuple(str(s.path) for s in side) for side in (splits.query, splits.gallery))
    market = dataset_info(splits.name).market_ids
    data = RanklistData(splits.name, query, gallery, qpaths, gpaths, qmaps, gmaps, market)
    return save_ranklist_data(data, out_dir)


def stored_datasets(method_dir: Path) -> list[str]:
    """The test sets whose rank-list data ``method_dir`` holds."""
    prefix, suffix = RANKLIST_NPZ.split("{}")
    names = (p.name for p in Path(method_dir).glob(RANKLIST_NPZ.format("*")))
    return sorted(n[len(prefix) : -len(suffix)] for n in names)


def load_ranklist_data(method_dir: Path, dataset: str) -> RanklistData:
    """The stored rank-list data of one test set (one-line DataError when absent)."""
    path = Path(method_dir) / RANKLIST_NPZ.format(dataset)
    if not path.is_file():
        have = ", ".join(stored_datasets(method_dir)) or "none"
        raise DataError(
            f"no rank-list data for {dataset} in {method_dir} (stored: {have}); "
            "runs evaluated before rank lists existed need 'run --resume' with a changed eval.*"
        )
    try:
        z = np.load(path)
        banks = {
            side: FeatureBank(*(torch.from_numpy(z[f"{side}_{k}"]) for k in _BANK_KEYS))
            for side in "qg"
        }
        maps = {side: z[f"{side}_maps"] if f"{side}_maps" in z else None for side in "qg"}
        paths = {side: _resolve(z[f"{side}_paths"], Path(method_dir)) for side in "qg"}
        market = bool(z["market_ids"])
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path} is damaged ({e}); re-evaluate the run") from e
    return RanklistData(
        dataset, banks["q"], banks["g"], paths["q"], paths["g"], maps["q"], maps["g"], market
    )


_BANK_KEYS = ("features", "visibility", "pids", "camids")


def _resolve(paths: np.ndarray, method_dir: Path) -> tuple[str, ...]:
    """Image paths as stored, or, when relative to the folder the run started in (the default
    synthetic root ``data/...``), re-rooted at the first ancestor of the run where they exist."""
    stored = tuple(str(p) for p in paths)
    if not stored or Path(stored[0]).is_absolute() or Path(stored[0]).exists():
        return stored
    for base in Path(method_dir).resolve().parents:
        if (base / stored[0]).exists():
            return tuple(str(base / p) for p in stored)
    return stored  # reading the image names the missing file in one line


def subset(bank: FeatureBank, rows: list[int] | Tensor) -> FeatureBank:
    """The bank's items ``rows``, in that order."""
    idx = torch.as_tensor(rows, dtype=torch.long)
    return FeatureBank(bank.features[idx], bank.visibility[idx], bank.pids[idx], bank.camids[idx])


def part_distances(query: FeatureBank, gallery: FeatureBank, distance: str = "paper") -> Tensor:
    """[Q, G, P] part terms by ``distance_matrix``: eq. (1)'s ``||f1_j - f2_j||`` of unit features
    ("paper") or the official code's cosine distance ``1 - cos`` ("official").

    Each part goes through the evaluation's own distance code alone, visibility forced to 1, so
    its value is exactly the term the distance averages over its parts. (The official distance
    of one part is its query term plus its shared term, the same ``1 - cos`` twice: halved.)
    """
    cols = []
    for j in range(query.features.shape[1]):
        q = FeatureBank(query.features[:, j : j + 1], query.visibility[:, j : j + 1], *_ids(query))
        g = FeatureBank(
            gallery.features[:, j : j + 1], gallery.visibility[:, j : j + 1], *_ids(gallery)
        )
        d = distance_matrix(q, g, use_visibility=False, distance=distance)  # [Q, G]
        cols.append(d / 2 if distance == "official" else d)
    return torch.stack(cols, dim=-1)


def _ids(bank: FeatureBank) -> tuple[Tensor, Tensor]:
    return bank.pids, bank.camids


def query_aps(data: RanklistData, distance: str = "paper") -> np.ndarray:
    """[Q] multi-gallery-shot AP of each query (NaN for a query without a match)."""
    dist = distance_matrix(data.query, data.gallery, distance=distance)  # [Q, G]
    q, g = data.query, data.gallery
    per = rank_queries(dist, q.pids, q.camids, g.pids, g.camids, market_ids=data.market_ids)
    return np.where(per.valid.numpy(), per.ap.numpy(), np.nan)


def ranked_gallery(
    dist: Tensor, query: FeatureBank, gallery: FeatureBank, market_ids: bool, k: int
) -> list[list[int]]:
    """Each query's top-``k`` gallery indices under the evaluation's rules
    (``benchmark.evaluation.ranking``): same pid and same camera is not listed (nor Market-1501
    junk); ascending distance; at a tie a true match ranks after the non-matches, then gallery
    order.

    Args:
        dist: [Q, G] distances of ``query`` to ``gallery``.
    """
    lists = []
    for row, (pid, cam) in enumerate(zip(query.pids.tolist(), query.camids.tolist(), strict=True)):
        match = (gallery.pids == pid).numpy()
        keep = ~(match & (gallery.camids == cam).numpy())
        if market_ids:
            keep &= (gallery.pids >= 0).numpy()
        index = np.flatnonzero(keep)
        order = np.lexsort((index, match[index], dist[row, index].numpy()))
        lists.append([int(i) for i in index[order[:k]]])
    return lists


def pattern_of(visibility: Tensor) -> list[str]:
    """Visible-part pattern of each row of [N, P] visibility, e.g. "1011" (part 1 first)."""
    return ["".join("1" if v > 0 else "0" for v in row) for row in visibility.tolist()]
