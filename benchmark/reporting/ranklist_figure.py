"""The rank-list figure: a matplotlib grid, one row per query, its top-k gallery with a green (right
identity) or red (wrong) frame, part masks overlaid, part distances under each image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.atomic import atomic_path, write_csv_atomic
from benchmark.errors import DataError
from benchmark.loading.data import read_image
from benchmark.reporting.figures import PART_COLORS, legend_patch, new_figure, overlay
from benchmark.reporting.labels import dataset_label, row_label
from benchmark.reporting.ranklist import Rule, caption, ranklist_frame
from benchmark.reporting.ranklist_data import RanklistData, load_ranklist_data, stored_datasets
from benchmark.store.run_folder import read_run_config
from reid_datasets.base import examples_set
from reid_datasets.parts import PART4_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RIGHT, WRONG = "#00aa00", "#dc0000"
IMAGE_SIZE = (128, 64)  # (H, W) every tile is shown at: the ReID aspect ratio 1:2


def part_names(num_parts: int) -> list[str]:
    """Display names of the parts: HPNet's four regions, else "part 1".. "part P"."""
    if num_parts == len(PART4_NAMES) - 1:
        return [name.replace("_", " ") for name in PART4_NAMES[1:]]
    return [f"part {j}" for j in range(1, num_parts + 1)]


def _tile(path: str, maps: np.ndarray | None, index: int) -> np.ndarray:
    """The image at ``IMAGE_SIZE`` with its part map overlaid (none for a method without masks)."""
    image = read_image(Path(path), IMAGE_SIZE)
    if maps is None:
        return image
    size = (IMAGE_SIZE[1], IMAGE_SIZE[0])
    mask = np.asarray(Image.fromarray(maps[index]).resize(size, Image.Resampling.NEAREST))
    return overlay(image, np.minimum(mask, len(PART_COLORS) - 1).astype(np.int64))


def _frame(ax, color: str) -> None:
    """A coloured frame around the axes' image (spines) with no ticks."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(4)


def build_figure(frame: pd.DataFrame, data: RanklistData, title: str) -> Figure:
    """Draw ``frame`` (see ``ranklist_frame``) as a grid: a row per query, its top-k beside it.

    Args:
        frame: the tidy rank-list frame of the chosen queries.
        data: the stored data the frame was built from (images and part maps).
        title: the figure title; it states the method, the data set and the query rule.
    """
    queries = list(dict.fromkeys(frame["query"]))
    k = int(frame["rank"].max())
    names = part_names(data.query.features.shape[1])
    fig = new_figure(1.35 * (k + 1), 3.4 * len(queries) + 0.6)
    axes = fig.subplots(len(queries), k + 1, squeeze=False)
    for row, qi in zip(axes, queries, strict=True):
        rows = frame[frame["query"] == qi]
        first = rows.iloc[0]
        row[0].imshow(_tile(first["query_path"], data.query_maps, qi))
        _frame(row[0], "#444444")
        row[0].set_title(f"query #{qi}", fontsize=7)
        row[0].set_xlabel(
            f"AP {100 * first['query_ap']:.1f}%\nvisible {first['query_pattern']}", fontsize=6
        )
        for ax, (rank, tile) in zip(row[1:], rows.groupby("rank"), strict=False):
            gi = int(tile["gallery"].iloc[0])
            ax.imshow(_tile(tile["gallery_path"].iloc[0], data.gallery_maps, gi))
            _frame(ax, RIGHT if tile["correct"].iloc[0] else WRONG)
            ax.set_title(f"{rank}", fontsize=7)
            ax.set_xlabel(caption(tile, names), fontsize=5.5, family="DejaVu Sans", loc="left")
        for ax in row[1 + rows["rank"].nunique() :]:
            ax.axis("off")
    coloured = data.query_maps is not None and len(names) < len(PART_COLORS)
    handles = [legend_patch(facecolor="none", edgecolor=c, label=t) for c, t in _FRAME_KEY]
    if coloured:
        handles += [
            legend_patch(color=PART_COLORS[j] / 255.0, label=n) for j, n in enumerate(names, 1)
        ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=6, frameon=False)
    fig.suptitle(title, fontsize=7)
    fig.subplots_adjust(hspace=0.75, wspace=0.15, bottom=0.12)
    return fig


def draw_ranklist(frame: pd.DataFrame, data: RanklistData, title: str, out: Path) -> Path:
    """``build_figure`` saved as PNG atomically at ``out``."""
    fig = build_figure(frame, data, title)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    return Path(out)


_FRAME_KEY = ((RIGHT, "right identity"), (WRONG, "wrong identity"))


def figure_title(method: str, dataset: str, rule_text: str, distance: str = "paper") -> str:
    """The figure's title: what is shown, how the queries were chosen, how to read the text."""
    if distance == "official":
        how = (
            "cosine part distances (● visible in query and gallery, ○ not) and d = the official "
            "distance (mean over the query's visible parts + mean over the shared ones)"
        )
    else:
        how = (
            "eq. (1) part distances (● used: visible in query and gallery, ○ not used) and "
            "d = their mean over the used parts"
        )
    return f"{method} on {dataset}; queries: {rule_text}\nunder each image: {how}"


def find_method_dir(run_dir: Path, method: str) -> Path:
    """The job folder of ``method`` (``hpnet`` = its lowest seed, or ``hpnet-seed1``)."""
    root = Path(run_dir) / "methods"
    if (root / method).is_dir():
        return root / method
    seeds = [p for p in root.glob(f"{method}-seed*") if p.name.rpartition("-seed")[2].isdigit()]
    seeds.sort(key=lambda p: int(p.name.rpartition("-seed")[2]))
    if not seeds:
        have = ", ".join(sorted(p.name for p in root.glob("*"))) if root.is_dir() else "none"
        raise DataError(f"no method {method!r} in {run_dir} (job folders: {have})")
    return seeds[0]


def write_ranklist(
    run_dir: Path,
    method: str,
    dataset: str,
    rule: Rule,
    queries: int = 4,
    topk: int = 5,
    out_dir: Path | None = None,
) -> tuple[Path, Path]:
    """Draw a rank list of ``method`` on ``dataset`` from a run's stored data; write the PNG and
    the tidy frame as CSV beside it. Returns (png, csv)."""
    mdir = find_method_dir(run_dir, method)
    data = load_ranklist_data(mdir, dataset)
    distance = read_run_config(run_dir).eval.distance  # rank as the run's tables were scored
    frame, said = ranklist_frame(data, rule, queries, topk, distance)
    tag = rule.kind if rule.kind != "pattern" else f"pattern{rule.bits}"
    folder = Path(out_dir) if out_dir else Path(run_dir) / "figures"
    out = folder / f"ranklist_{mdir.name}_{dataset}_{tag}.png"
    name, _, seed = mdir.name.rpartition("-seed")
    label = f"{row_label(name, True)}, seed {seed}" if name else mdir.name
    png = draw_ranklist(
        frame, data, figure_title(label, dataset_label(dataset), said, distance), out
    )
    return png, write_csv_atomic(frame, out.with_suffix(".csv"))


def default_ranklists(method_dirs: list[Path], out_dir: Path) -> list[Path]:
    """The default rank list of each method (4 random queries, seed 0, top 5) on Occluded-REID,
    or on its first stored test set when Occluded-REID was not evaluated."""
    written = []
    for mdir in method_dirs:
        stored = stored_datasets(mdir)
        if not stored:
            continue
        examples = examples_set()  # registered with examples=True: the paper's Fig. 5 set
        dataset = examples if examples in stored else stored[0]
        run_dir = mdir.parent.parent
        rule = Rule("random")
        written.append(write_ranklist(run_dir, mdir.name, dataset, rule, out_dir=out_dir)[0])
    return written
