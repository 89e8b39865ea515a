"""Figures: bar charts, CMC curves, claims with intervals, ranking lists (paper Fig. 5), part
overlays (Figs. 3, 6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from benchmark.atomic import atomic_path
from benchmark.errors import DataError
from benchmark.reporting.claims import claims_frame
from benchmark.reporting.labels import dataset_label, row_label, row_order
from benchmark.store.rows import main_rows
from reid_datasets.base import dataset_rank
from reid_datasets.parts import PART4_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

# RGB of HPNet's 4 parts (1 head, 2 torso+arms, 3 upper legs, 4 lower legs+feet).
PART_COLORS = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25]], dtype=np.uint8
)
TILE = (64, 128)  # (width, height) of one ranking-list image, the ReID aspect ratio 1:2
BORDER = 5  # px of the green/red frame around a gallery image
RIGHT, WRONG = (0, 170, 0), (220, 0, 0)
CMC_RANKS = (("rank1", 1), ("rank3", 3), ("rank5", 5), ("rank10", 10))
VERDICT_COLORS = {"holds": "tab:green", "reversed": "tab:red", "inconclusive": "tab:gray"}


@dataclass(frozen=True)
class RankingRow:
    """One query of a ranking list: its image, its top gallery images, which are right."""

    query: Path
    gallery: tuple[Path, ...]
    correct: tuple[bool, ...]


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure of ``width`` x ``height`` inches, without pyplot's global state.

    matplotlib is slow to import (0.3 s of every command's start, ``score`` included): it is
    loaded when a figure is drawn.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def legend_patch(**kwargs: Any) -> Patch:
    """A legend handle (``matplotlib.patches.Patch(**kwargs)``), matplotlib loaded on use."""
    from matplotlib.patches import Patch

    return Patch(**kwargs)


def _save(fig: Figure, out: Path) -> Path:
    """Save as PNG through ``atomic_path`` (never a half-written figure)."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return Path(out)


def _label(method: str, vis: bool) -> str:
    return row_label(method, bool(vis))


def _one_protocol(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one distance and one kind of data (paper distance and real data preferred)."""
    if df.empty:
        return df
    distance = "paper" if (df["distance"] == "paper").any() else sorted(df["distance"])[0]
    data = "real" if (df["data"] == "real").any() else sorted(df["data"])[0]
    return df[(df["distance"] == distance) & (df["data"] == data)]


def _per_seed(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean over runs per seed, then mean and std over seeds, in %, in the tables' row order."""
    rows = _one_protocol(df[df["trial"] == -1])
    per_seed = rows.groupby(keys + ["seed"], dropna=False)["value"].mean().reset_index()
    stats = per_seed.groupby(keys, dropna=False)["value"].agg(["mean", "std"]).reset_index()
    stats[["mean", "std"]] = stats[["mean", "std"]].fillna({"std": 0.0}) * 100.0
    order = [row_order(m, bool(v)) for m, v in zip(stats["method"], stats["vis"], strict=True)]
    return stats.iloc[sorted(range(len(stats)), key=order.__getitem__)].reset_index(drop=True)


def bar_chart(df: pd.DataFrame, dataset: str, out: Path) -> Path:
    """Multi-gallery-shot Rank-1 and mAP per method on ``dataset``; error bars: std over seeds."""
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    rows = main_rows(df)
    rows = rows[(rows["dataset"] == dataset) & (rows["mode"] == "multi")]
    rows = rows[rows["metric"].isin(["rank1", "mAP"])]
    if rows.empty:
        raise DataError(f"no multi-gallery-shot Rank-1/mAP results on {dataset} to plot")
    stats = _per_seed(rows, ["method", "vis", "metric"])
    labels = list(
        dict.fromkeys(_label(m, v) for m, v in zip(stats["method"], stats["vis"], strict=True))
    )
    x, width = np.arange(len(labels)), 0.38
    with sns.axes_style("whitegrid"):
        fig = new_figure(max(4.0, 1.1 * len(labels) + 1.5), 3.6)
        ax = fig.add_subplot()
        for i, (metric, name) in enumerate((("rank1", "Rank-1"), ("mAP", "mAP"))):
            part = stats[stats["metric"] == metric]
            where = [
                labels.index(_label(m, v)) for m, v in zip(part["method"], part["vis"], strict=True)
            ]
            ax.bar(
                x[where] + (i - 0.5) * width,
                part["mean"],
                width,
                yerr=part["std"],
                capsize=3,
                label=name,
                color=sns.color_palette()[i],
            )
        ax.set_xticks(x, labels, rotation=20, ha="right")
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.set_title(f"{dataset_label(dataset)}, multi-gallery-shot")
        ax.legend()
    return _save(fig, out)


def cmc_curves(curves: dict[str, np.ndarray], out: Path, title: str) -> Path:
    """CMC curves, one per method.

    Args:
        curves: method label -> matching rate at ranks 1..K (fractions), or a [K, 2] array of
            (rank, rate) pairs for curves known at a few ranks only.
        out: the PNG path.
        title: the figure title.
    """
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    if not curves:
        raise ValueError("cmc_curves needs at least one curve")
    with sns.axes_style("whitegrid"):
        fig = new_figure(4.8, 3.6)
        ax = fig.add_subplot()
        for name, curve in curves.items():
            curve = np.asarray(curve, dtype=float)
            ranks, rates = (
                (curve[:, 0], curve[:, 1])
                if curve.ndim == 2
                else (np.arange(1, len(curve) + 1), curve)
            )
            ax.plot(ranks, rates * 100.0, marker="o", markersize=3, label=name)
        ax.set_xlabel("rank")
        ax.set_ylabel("matching rate (%)")
        ax.set_title(title)
        ax.legend(fontsize="small")
    return _save(fig, out)


def claims_chart(frame: pd.DataFrame, out: Path, title: str) -> Path:
    """The claims table as a forest plot: per claim, data set and metric the difference in
    points with its 95% interval, coloured by verdict, against a line at 0.

    Args:
        frame: rows of ``benchmark.reporting.claims.claims_frame`` (one kind of data).
        out: PNG path.
        title: the figure's title.
    """
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    if frame.empty:
        raise DataError("no claim could be tested (a method or the w/o vis test is missing)")
    rows = frame.assign(order=frame["dataset"].map(dataset_rank))
    rows = rows.sort_values(["claim", "order", "metric"], ascending=[True, True, False])
    metric = {"rank1": "R1", "mAP": "mAP"}
    labels = [
        f"({r.claim}) {r.text} | {dataset_label(r.dataset)} | {metric.get(r.metric, r.metric)}"
        for r in rows.itertuples()
    ]
    y = np.arange(len(rows))[::-1]  # the first claim on top
    with sns.axes_style("whitegrid"):
        fig = new_figure(10.0, 0.28 * len(rows) + 1.2)
        ax = fig.add_subplot()
        ax.axvline(0.0, color="black", linewidth=0.8)
        for verdict, color in VERDICT_COLORS.items():
            pick = (rows["verdict"] == verdict).to_numpy()
            if not pick.any():
                continue
            diff, low, high = (rows[c].to_numpy()[pick] for c in ("difference", "low", "high"))
            ax.errorbar(
                diff,
                y[pick],
                xerr=[diff - low, high - diff],
                fmt="o",
                color=color,
                capsize=3,
                label=verdict,
            )
        ax.set_yticks(y, labels)
        ax.set_xlabel("difference, method minus reference (points), 95% paired bootstrap CI")
        ax.set_title(title)
        ax.legend(loc="lower right")
    return _save(fig, out)


def _tile(path: Path, color: tuple[int, int, int] | None) -> np.ndarray:
    try:
        with Image.open(path) as img:
            tile = img.convert("RGB").resize(TILE, Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"cannot read image {path} ({e}); check the data root") from e
    if color is not None:
        tile = ImageOps.expand(
            tile.resize((TILE[0] - 2 * BORDER, TILE[1] - 2 * BORDER)), border=BORDER, fill=color
        )
    return np.asarray(tile)


def ranking_lists(rows: Sequence[RankingRow | tuple], out: Path) -> Path:
    """Several ranking lists as rows, as in the paper's Fig. 5.

    Args:
        rows: per query, ``RankingRow(query, gallery, correct)`` or the same as a tuple: the
            query image, its top gallery images (best first), and whether each is the right
            identity (green frame) or not (red frame).
        out: the PNG path.
    """
    ranked = [
        r
        if isinstance(r, RankingRow)
        else RankingRow(Path(r[0]), tuple(map(Path, r[1])), tuple(map(bool, r[2])))
        for r in rows
    ]
    if not ranked:
        raise ValueError("ranking_lists needs at least one query")
    width = max(len(r.gallery) for r in ranked) + 1
    fig = new_figure(0.75 * width, 1.5 * len(ranked))
    axes = fig.subplots(len(ranked), width, squeeze=False)
    for i, row in enumerate(ranked):
        if len(row.gallery) != len(row.correct):
            raise ValueError(
                f"query {row.query}: {len(row.gallery)} images, {len(row.correct)} correct flags"
            )
        tiles = [_tile(row.query, None)] + [
            _tile(p, RIGHT if ok else WRONG) for p, ok in zip(row.gallery, row.correct, strict=True)
        ]
        for j, ax in enumerate(axes[i]):
            ax.axis("off")
            if j < len(tiles):
                ax.imshow(tiles[j])
                if i == 0:
                    ax.set_title("query" if j == 0 else str(j), fontsize=8)
    return _save(fig, out)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the 4-part colours of ``mask`` ([H, W], codes 0..4) over ``image`` ([H, W, 3])."""
    if image.ndim != 3 or image.shape[2] != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"image {image.shape} and mask {mask.shape} must be [H, W, 3] and [H, W]")
    if mask.min() < 0 or mask.max() >= len(PART_COLORS):
        raise ValueError(f"mask codes must be 0..{len(PART_COLORS) - 1}, got {mask.max()}")
    colored = PART_COLORS[mask].astype(float)  # [H, W, 3]
    blend = np.where((mask > 0)[..., None], (1 - alpha) * image + alpha * colored, image)
    return blend.astype(np.uint8)


def part_overlays(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], out: Path) -> Path:
    """Images with their coloured 4-part masks (Figs. 3 and 6), one column each, with a legend."""
    if not images or len(images) != len(masks):
        raise ValueError(f"need as many masks as images, got {len(images)} and {len(masks)}")
    fig = new_figure(1.2 * len(images) + 1.6, 2.8)
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for ax, image, mask in zip(axes, images, masks, strict=True):
        ax.imshow(overlay(np.asarray(image, dtype=np.uint8), np.asarray(mask, dtype=np.int64)))
        ax.axis("off")
    handles = [
        legend_patch(color=PART_COLORS[k] / 255.0, label=PART4_NAMES[k].replace("_", " "))
        for k in range(1, len(PART_COLORS))
    ]
    fig.legend(handles=handles, loc="center right", fontsize="small", frameon=False)
    fig.subplots_adjust(right=0.78)
    return _save(fig, out)


def _sweep_axes(ax, stats: pd.DataFrame, metric: str, name: str) -> None:
    """``metric`` against synthetic occlusion strength, one line per method (and data set)."""
    several = stats["dataset"].nunique() > 1
    part = stats[stats["metric"] == metric]
    for (method, vis, dataset), line in part.groupby(["method", "vis", "dataset"]):
        line = line.sort_values("occlusion")
        label = _label(method, vis) + (f" ({dataset_label(dataset)})" if several else "")
        ax.errorbar(
            line["occlusion"], line["mean"], yerr=line["std"], marker="o", markersize=3,
            capsize=2, label=label,
        )  # fmt: skip
    ax.set_xlabel("occlusion strength")
    ax.set_ylabel(f"{name} (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")


def _zoom_axes(ax, frame: pd.DataFrame, title: str) -> None:
    """Rank-1 against the zoom a partial crop is shown at, one line per method: the crops at
    their source position (zoom 1.0) and scaled, the stretched protocol a star at its mean
    zoom. ``frame``: the tidy rows of one data set (``benchmark zoom``)."""
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    rows = frame[frame["metric"] == "rank1"]
    stats = rows.groupby(["method", "presentation", "zoom"], sort=False)["value"]
    stats = stats.agg(["mean", "std"]).reset_index().fillna({"std": 0.0})
    for i, (method, part) in enumerate(stats.groupby("method", sort=False)):
        color = sns.color_palette()[i % 10]
        line = part[part["presentation"] == "zoom"].sort_values("zoom")
        ax.errorbar(
            line["zoom"], 100 * line["mean"], yerr=100 * line["std"], marker="o", markersize=3,
            capsize=2, color=color, label=_label(method, True),
        )  # fmt: skip
        stretched = part[part["presentation"] == "stretched"]
        ax.plot(
            stretched["zoom"], 100 * stretched["mean"], marker="*", markersize=11,
            linestyle="none", color=color,
        )  # fmt: skip
    ax.set_xlabel("zoom of the crop (1 = in place, native scale)")
    ax.set_ylabel("Rank-1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title} (star: stretched, the protocol)", fontsize="small")
    ax.legend(fontsize=7)


def robustness_curve(df: pd.DataFrame, out: Path, zoom: pd.DataFrame | None = None) -> Path:
    """The robustness figure: Rank-1 and mAP against synthetic occlusion strength (the sweep's
    rows of ``df``), and per set of partial crops Rank-1 against the zoom the crops are shown
    at (``zoom``: the rows of ``benchmark zoom``). Either part may be missing, not both."""
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    has_sweep = "occlusion" in df.columns and df["occlusion"].notna().any()
    zoom_sets = [] if zoom is None or zoom.empty else list(zoom["dataset"].unique())
    if not has_sweep and not zoom_sets:
        raise DataError(
            "no rows with an occlusion value and no zoom rows; run the robustness sweep "
            "(--set eval.occlusion_sweep='[...]') or 'python -m benchmark zoom RUN_DIR' first"
        )
    panels = (2 if has_sweep else 0) + len(zoom_sets)
    with sns.axes_style("whitegrid"):
        fig = new_figure(4.2 * panels, 3.6)
        axes = list(np.atleast_1d(fig.subplots(1, panels)))
        if has_sweep:
            rows = df[df["occlusion"].notna() & (df["mode"] == "multi")]
            stats = _per_seed(
                rows[rows["metric"].isin(["rank1", "mAP"])],
                ["method", "vis", "dataset", "metric", "occlusion"],
            )
            _sweep_axes(axes.pop(0), stats, "rank1", "Rank-1")
            _sweep_axes(axes.pop(0), stats, "mAP", "mAP")
        for name, ax in zip(zoom_sets, axes, strict=True):
            assert zoom is not None
            _zoom_axes(ax, zoom[zoom["dataset"] == name], dataset_label(name))
        fig.tight_layout()
    return _save(fig, out)


def _cmc_points(df: pd.DataFrame, dataset: str) -> dict[str, np.ndarray]:
    rows = main_rows(df)
    rows = rows[(rows["dataset"] == dataset) & (rows["mode"] == "multi")]
    stats = _per_seed(
        rows[rows["metric"].isin([m for m, _ in CMC_RANKS])], ["method", "vis", "metric"]
    )
    curves = {}
    for (method, vis), part in stats.groupby(["method", "vis"]):
        rate = dict(zip(part["metric"], part["mean"] / 100.0, strict=True))
        points = [(k, rate[m]) for m, k in CMC_RANKS if m in rate]
        if len(points) > 1:
            curves[_label(method, vis)] = np.array(points)  # [K, 2] (rank, rate)
    return curves


def write_figures(df: pd.DataFrame, out_dir: Path, zoom: pd.DataFrame | None = None) -> list[Path]:
    """Every figure the result rows support: per data set a bar chart and CMC points, and the
    robustness figure when rows carry an occlusion strength or ``zoom`` rows exist (then also
    one zoom figure per set of partial crops). Returns the written paths."""
    out_dir, written = Path(out_dir), []
    main = main_rows(df)
    multi = main[(main["mode"] == "multi") & main["metric"].isin(["rank1", "mAP"])]
    for dataset in sorted(multi["dataset"].unique()):
        written.append(bar_chart(df, dataset, out_dir / f"bars_{dataset}.png"))
        curves = _cmc_points(df, dataset)
        if curves:
            title = f"CMC, {dataset_label(dataset)}, multi-gallery-shot"
            written.append(cmc_curves(curves, out_dir / f"cmc_{dataset}.png", title))
    return written + write_robustness_figures(df, out_dir, zoom)


def write_robustness_figures(
    df: pd.DataFrame, out_dir: Path, zoom: pd.DataFrame | None = None
) -> list[Path]:
    """``robustness.png`` when rows carry an occlusion strength or ``zoom`` rows exist, and
    ``zoom_<set>.png`` per set of partial crops in ``zoom``. Returns the written paths."""
    out_dir, written = Path(out_dir), []
    zoom = None if zoom is None or zoom.empty else zoom
    if zoom is not None or ("occlusion" in df.columns and df["occlusion"].notna().any()):
        written.append(robustness_curve(df, out_dir / "robustness.png", zoom))
    if zoom is not None:
        for name in zoom["dataset"].unique():
            part = zoom[zoom["dataset"] == name]
            written.append(zoom_curves(part, out_dir / f"zoom_{name}.png", dataset_label(name)))
    return written


def write_claims_figures(per_query: pd.DataFrame | None, out_dir: Path) -> list[Path]:
    """``claims_<data>.png`` per kind of data whose claims could be tested ([] without
    per-query rows or testable claims)."""

    if per_query is None or per_query.empty:
        return []
    frame, _ = claims_frame(per_query)
    written = []
    for data in sorted(frame["data"].unique()) if not frame.empty else []:
        title = f"The paper's claims on {data} data (multi-gallery-shot)"
        part = frame[frame["data"] == data]
        written.append(claims_chart(part, Path(out_dir) / f"claims_{data}.png", title))
    return written


def zoom_curves(frame: pd.DataFrame, out: Path, title: str) -> Path:
    """One set's zoom panel of the robustness figure on its own (``_zoom_axes``)."""
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    with sns.axes_style("whitegrid"):
        fig = new_figure(5.6, 3.6)
        _zoom_axes(fig.subplots(), frame, title)
    return _save(fig, out)
