"""Convergence study: validation Rank-1, mAP and mask mIoU against training steps; run on request.

    python -m benchmark.perf.convergence --profile cpu --epochs 8 16 24 --out results/convergence

One benchmark run per budget (``train.epochs``), every other setting the profile's, with the
learning-rate decay kept at the same fraction of the schedule. Each run logs its validation
metrics per epoch (the held-out training identities, ``train.val_ids``); the study reads only
those, so the budget it suggests is chosen without test data. It writes ``convergence.csv``
(tidy: method, budget, epoch, step, metric, value; ``final`` marks each budget's last epoch),
``convergence.png``, ``timings.csv`` (training seconds per method and budget) and
``test_by_budget.csv`` (each budget's final test-set metrics, reported but never used to choose)
with ``test_by_budget.png`` (Rank-1 and mask mIoU per test set against the budget), and, for the
budgets whose run folder holds ``zoom.csv`` (``python -m benchmark zoom RUN_DIR``, then the study
again: it reads finished runs), ``zoom_by_budget.csv`` (each partial set's Rank-1 stretched, in
place and their ratio; its panel in ``test_by_budget.png``). An
interrupted study resumes: a budget whose run folder exists is resumed, a finished one is read.
Rows already in ``--out`` for other (method, budget) pairs are kept, so a longer budget can be
added to a study without its earlier runs on disk.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.atomic import atomic_path, write_csv_atomic
from benchmark.cli import main as cli
from benchmark.profiles import get_profile
from benchmark.reporting.labels import dataset_label
from benchmark.store.results import load_zoom

log = logging.getLogger(__name__)

METRICS = {  # train_log.csv column -> label
    "val_rank1": "Rank-1 (validation)",
    "val_mAP": "mAP (validation)",
    "val_occ_rank1": "Rank-1 (validation, occluded queries)",
    "val_occ_mAP": "mAP (validation, occluded queries)",
    "val_parsing_miou": "mask mIoU (validation)",
    "val_vis_recall": "visibility recall (validation)",
}


def decay_at(profile_epochs: int, decay: tuple[int, ...], budget: int) -> list[int]:
    """The profile's decay epochs moved to the same fractions of ``budget`` (at least epoch 1)."""
    return [max(1, round(e / profile_epochs * budget)) for e in decay]


def run_budget(
    profile: str, methods: list[str], budget: int, seed: int, out: Path, extra: Sequence[str] = ()
) -> Path:
    """Run (or resume, or just find) the benchmark run of one budget; returns its folder."""

    found = sorted(p.parent for p in out.glob("*/config.json"))
    if found:
        jobs = [found[-1] / "methods" / f"{m}-seed{seed}" for m in methods]
        if not all((job / "done.json").exists() for job in jobs):
            log.info("budget %d: resuming %s", budget, found[-1])
            _check(cli(["run", "--resume", str(found[-1])]), budget)
        return found[-1]
    train = get_profile(profile).train
    sets = [
        *extra,
        f"train.epochs={budget}",
        f"train.decay_epochs={json.dumps(decay_at(train.epochs, train.decay_epochs, budget))}",
    ]
    args = ["run", "--profile", profile, "--methods", *methods, "--seeds", str(seed)]
    sets = [arg for s in sets for arg in ("--set", s)]
    _check(cli([*args, "--out", str(out), *sets]), budget)
    return sorted(p.parent for p in out.glob("*/config.json"))[-1]


def _check(code: int, budget: int) -> None:
    if code != 0:
        raise SystemExit(f"the run of budget {budget} epochs failed (exit {code}); see above")


def collect(
    run_dir: Path, methods: list[str], budget: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tidy validation rows and training times of one budget's run."""
    rows: list[dict[str, Any]] = []
    times: list[dict[str, Any]] = []
    for method in methods:
        job = run_dir / "methods" / f"{method}-seed{seed}"
        train_log = pd.read_csv(job / "train_log.csv")
        present = [c for c in METRICS if c in train_log.columns]
        if not present:
            raise SystemExit(f"{job}/train_log.csv has no validation column; set train.val_ids > 0")
        for rec in train_log.to_dict("records"):
            for col in present:
                rows.append(
                    {
                        "method": method,
                        "budget": budget,
                        "epoch": int(rec["epoch"]),
                        "step": int(rec.get("step", rec["epoch"])),
                        "metric": col,
                        "value": float(rec[col]),
                        "final": int(rec["epoch"]) == budget,
                    }
                )
        timing = json.loads((job / "timings.json").read_text(encoding="utf-8"))
        times.append({"method": method, "budget": budget, "train_s": timing["train_s"]})
    return rows, times


TEST_METRICS = ("rank1", "mAP", "miou_grid", "vis_recall")  # reported, never used to choose


def collect_test(run_dir: Path, budget: int) -> pd.DataFrame:
    """Each budget's final test-set metrics, for information only (multi-shot, with visibility).

    The budget is chosen on the validation curves; these rows show what each budget gives on the
    test sets, so a reader can check that the choice did not leave accuracy on the table.
    """
    rows = pd.read_csv(run_dir / "results.csv")
    keep = rows["metric"].isin(TEST_METRICS) & rows["mode"].isin(["multi", "parsing"])
    keep &= rows["vis"].astype(str).str.lower() == "true"
    rows = rows[keep]
    # a set's query sets (Partial-REID's two folders, the whole-body controls) stay apart
    query_set = rows["query_set"] if "query_set" in rows.columns else "query"
    return (
        rows.assign(query_set=query_set)
        .groupby(["method", "dataset", "query_set", "metric"], as_index=False)["value"]
        .mean()
        .assign(budget=budget)
    )


def collect_zoom(run_dir: Path, budget: int) -> pd.DataFrame:
    """Each partial set's Rank-1 stretched (the protocol), in place (zoom 1) and stretched over in
    place, mean over seeds, from the run's ``zoom.csv``; no rows when the run has none."""
    keys = ["method", "dataset", "query_set"]
    rows = load_zoom(run_dir)  # checked: a damaged zoom.csv is a one-line error
    if rows is None:
        return pd.DataFrame(columns=[*keys, "metric", "value", "budget"])
    rows = rows.assign(query_set=rows.get("query_set", "query"))
    rows = rows[rows["metric"] == "rank1"]
    stretched = rows[rows["presentation"] == "stretched"].groupby(keys)["value"].mean()
    in_place = rows[(rows["presentation"] == "zoom") & (rows["zoom"] == 1.0)]
    in_place = in_place.groupby(keys)["value"].mean()
    wide = pd.DataFrame({"rank1_stretched": stretched, "rank1_in_place": in_place})
    wide["stretched_over_in_place"] = wide["rank1_stretched"] / wide["rank1_in_place"]
    tidy = wide.reset_index().melt(id_vars=keys, var_name="metric", value_name="value")
    return tidy.assign(budget=budget)


def merge(old: Path, new: pd.DataFrame) -> pd.DataFrame:
    """``new`` with the rows of the CSV ``old`` whose (method, budget) pairs ``new`` lacks."""
    if not old.exists():
        return new
    earlier = pd.read_csv(old)
    ran = set(zip(new["method"], new["budget"], strict=True))
    keep = [(m, b) not in ran for m, b in zip(earlier["method"], earlier["budget"], strict=True)]
    merged = pd.concat([earlier[keep], new], ignore_index=True)
    return merged.sort_values(["method", "budget"], kind="stable", ignore_index=True)


# test_by_budget.png: the partial and holistic sets side by side (the question of issue 23)
TEST_PANELS = (
    ("market1501", "query"),
    ("occluded_reid", "query"),
    ("partial_reid", "partial_body_images"),  # the paper's folder: the stretched crops
    ("partial_ilids_2018", "query"),
    ("partial_ilids_2019", "query"),
)


def plot_test(test: pd.DataFrame, path: Path, zoom: pd.DataFrame | None = None) -> None:
    """Rank-1 (solid) and mask grid mIoU (dashed) per test set against the budget, per method,
    and with ``zoom`` rows a last panel: Partial-REID's stretched crops over the same in place."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        p for p in TEST_PANELS if ((test["dataset"] == p[0]) & (test["query_set"] == p[1])).any()
    ]
    if not panels:
        return
    ratio = pd.DataFrame(columns=["method", "budget", "value"])
    if zoom is not None and not zoom.empty:
        ratio = zoom[
            (zoom["metric"] == "stretched_over_in_place") & (zoom["dataset"] == "partial_reid")
        ]
    extra = int(not ratio.empty)
    cols = len(panels) + extra
    fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols, 3.0), squeeze=False)
    tab10 = plt.cm.tab10.colors  # type: ignore[attr-defined]
    colours = dict(zip(sorted(test["method"].unique()), tab10, strict=False))
    budgets = sorted(test["budget"].unique())
    for ax, (dataset, query_set) in zip(axes[0][: len(panels)], panels, strict=True):
        part = test[(test["dataset"] == dataset) & (test["query_set"] == query_set)]
        title = dataset_label(dataset) + ("" if query_set == "query" else f" ({query_set})")
        for (method, metric), line in part.groupby(["method", "metric"]):
            if metric not in ("rank1", "miou_grid"):
                continue
            line = line.sort_values("budget")
            style = "o-" if metric == "rank1" else "s--"
            label = f"{method} {'Rank-1' if metric == 'rank1' else 'mask mIoU'}"
            ax.plot(line["budget"], 100 * line["value"], style, color=colours[method], label=label)
        ax.set(title=title, xlabel="epochs", ylabel="%", ylim=(0, 100))
    if extra:
        ax = axes[0][-1]
        for method, line in ratio.groupby("method"):
            line = line.sort_values("budget")
            ax.plot(line["budget"], line["value"], "o-", color=colours.get(method), label=method)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set(title="Partial-REID: stretched / in place", xlabel="epochs", ylabel="ratio")
    for ax in axes[0]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    _save(fig, "Test sets against the budget (information only, never used to choose)", path)


def plot(frame: pd.DataFrame, path: Path) -> None:
    """One panel per metric: each budget's per-epoch curve (thin) and its final point (marker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if m in set(frame["metric"])]
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    # matplotlib types cm.tab10 as a Colormap; it is a ListedColormap, which has colors
    tab10 = plt.cm.tab10.colors  # type: ignore[attr-defined]
    colours = dict(zip(sorted(frame["method"].unique()), tab10, strict=False))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        part = frame[frame["metric"] == metric]
        for (method, _budget), curve in part.groupby(["method", "budget"]):
            ax.plot(curve["step"], 100 * curve["value"], color=colours[method], lw=0.8, alpha=0.4)
        for method, finals in part[part["final"]].groupby("method"):
            finals = finals.sort_values("step")
            ax.plot(
                finals["step"], 100 * finals["value"], "o-", color=colours[method], label=method
            )
        ax.set(title=METRICS[metric], xlabel="training steps", ylabel="%")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    _save(fig, "Convergence on the validation identities (lines: each budget's epochs)", path)


def _save(fig, title: str, path: Path) -> None:
    """Title, lay out, write atomically and close a figure."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--methods", nargs="+", default=["hpnet", "baseline"])
    p.add_argument("--epochs", type=int, nargs="+", default=[8, 16, 24], help="budgets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/convergence"))
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="run settings for every budget"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows: list[dict[str, Any]] = []
    times: list[dict[str, Any]] = []
    tests, zooms = [], []
    for budget in sorted(set(args.epochs)):
        run_dir = run_budget(
            args.profile, args.methods, budget, args.seed, args.out / f"e{budget}", args.set
        )
        r, t = collect(run_dir, args.methods, budget, args.seed)
        rows, times = rows + r, times + t
        tests.append(collect_test(run_dir, budget))
        zooms.append(collect_zoom(run_dir, budget))
    frame = merge(args.out / "convergence.csv", pd.DataFrame(rows))
    timings = merge(args.out / "timings.csv", pd.DataFrame(times))
    test = merge(args.out / "test_by_budget.csv", pd.concat(tests, ignore_index=True))
    write_csv_atomic(frame, args.out / "convergence.csv")
    write_csv_atomic(timings, args.out / "timings.csv")
    write_csv_atomic(test, args.out / "test_by_budget.csv")
    zoom = merge(args.out / "zoom_by_budget.csv", pd.concat(zooms, ignore_index=True))
    if not zoom.empty:
        write_csv_atomic(zoom, args.out / "zoom_by_budget.csv")
    plot(frame, args.out / "convergence.png")
    plot_test(test, args.out / "test_by_budget.png", zoom)
    finals = frame[frame["final"]].pivot_table(
        index=["method", "budget"], columns="metric", values="value"
    )
    print((100 * finals).round(1).to_string())
    print(timings.to_string(index=False))
    print("test sets (information only, not used to choose):")
    print(
        (
            100
            * test.pivot_table(
                index=["method", "budget"],
                columns=["dataset", "query_set", "metric"],
                values="value",
            )
        )
        .round(1)
        .to_string()
    )
    if not zoom.empty:
        print("partial crops stretched and in place (Rank-1 and their ratio, information only):")
        ratio = zoom.pivot_table(
            index=["method", "budget"], columns=["dataset", "metric"], values="value"
        )
        print(ratio.round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
