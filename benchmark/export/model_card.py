"""The model card written beside an exported ONNX file (``FILE.card.json`` and ``FILE.card.md``).

It says what the graph is (method, config, inputs and outputs), what trained it (data, labels,
commit), how it scored (the run's headline metrics from ``results.csv`` with their protocol)
and how the export was checked (onnxruntime against PyTorch on the run's own test images).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.atomic import write_json_atomic, write_text_atomic
from benchmark.export.onnx_graph import INPUT, OUTPUTS
from benchmark.provenance import env_info
from benchmark.store.results import RESULTS_CSV
from reid_methods.base import method_row

HEADLINE = ("rank1", "mAP")
PROTOCOL = ["dataset", "query_set", "mode", "distance", "vis"]
VIS_NOTE = (
    "visibility is thresholded inside the graph (HPNet: max over the map of 1{G > T}), so the "
    "binary outputs are compared as they are; a mask probability within float error of T "
    "could flip one, and visibility_mismatches counts such flips"
)


def headline_metrics(run_dir: Path, method: str, seed: int) -> list[dict[str, Any]]:
    """Rank-1 and mAP of ``method``/``seed`` per test set and protocol (mean over trials).

    Rows under a special condition (occlusion sweep) are left out, as in the paper tables.
    """
    path = Path(run_dir) / RESULTS_CSV
    if not path.is_file():
        return []
    df = pd.read_csv(path)
    df = df[(df.method == method) & (df.seed == seed) & df.metric.isin(HEADLINE)]
    if "occlusion" in df:
        df = df[df.occlusion.isna()]
    if df.empty:
        return []
    table = df.groupby([*PROTOCOL, "metric"], sort=False)["value"].mean().unstack("metric")
    rows = table.reset_index().to_dict("records")
    return json.loads(pd.Series(rows).to_json(orient="values"))


def trained_labels(trained) -> str:
    """The part labels the method trained on ("gt", "ps" or "none"), as its result rows say."""
    if not trained.model.cfg.needs_part_labels:
        return "none"
    path = Path(trained.run_dir) / RESULTS_CSV
    if path.is_file():
        df = pd.read_csv(path, usecols=["method", "labels"])
        labels = df[df.method == trained.method]["labels"].dropna().unique()
        if len(labels) == 1:
            return str(labels[0])
    return trained.cfg.data.labels  # "auto" when no row tells


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file of the run, or {} when absent or unreadable (the card says so)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def method_options(cfg: Any) -> dict[str, Any]:
    """A method's resolved options (its config dataclass) as JSON values, for the card."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def model_card(trained, how: dict[str, Any], check: dict[str, Any], out: Path) -> dict[str, Any]:
    """The card of an exported model (see the module doc)."""
    cfg, run_env = trained.cfg, read_json(trained.run_dir / "env.json")
    size = [cfg.data.height, cfg.data.width]
    label = method_row(trained.method).label
    return {
        "model": Path(out).name,
        "method": trained.method,
        "label": label,
        "seed": trained.seed,
        "num_classes": trained.num_classes,
        "method_config": method_options(trained.model.cfg),
        "run": {"dir": str(trained.run_dir), "profile": cfg.profile, "config": cfg.to_dict()},
        "checkpoint": {"epoch": trained.epoch, "finished": trained.finished},
        "training_data": {
            "train_set": cfg.data.train_set,
            "data": check["images"]["data"],
            "root": check["images"]["root"],
            "synth_profile": cfg.data.synth_profile if cfg.data.root is None else None,
            "part_labels": trained_labels(trained),
            "input_size": size,
        },
        "protocol": {
            "test_sets": list(cfg.eval.datasets),
            "modes": list(cfg.eval.modes),
            "distance": cfg.eval.distance,
            "trials": cfg.eval.trials,
            "partial_reid_query": cfg.eval.partial_reid_query,
            "ties": "pessimistic (a true match ranks after every non-match at equal distance)",
        },
        "metrics": headline_metrics(trained.run_dir, trained.method, trained.seed),
        "commit": {"trained": run_env.get("git_commit"), "exported": env_info()["git_commit"]},
        "onnx": how
        | {
            "inputs": {INPUT: ["batch", 3, *size]},
            "outputs": {OUTPUTS[0]: ["batch", "P", "D"], OUTPUTS[1]: ["batch", "P"]},
            "preprocessing": "RGB resized to input_size, /255, ImageNet mean/std normalised",
        },
        "check": check | {"note": VIS_NOTE},
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a short Markdown page (the JSON beside it holds everything)."""
    check, onnx = card["check"], card["onnx"]
    lines = [
        f"# {card['label']} (seed {card['seed']}): {card['model']}",
        "",
        f"- method: `{card['method']}`, {card['num_classes']} training identities, "
        f"checkpoint epoch {card['checkpoint']['epoch']}"
        + ("" if card["checkpoint"]["finished"] else " (training unfinished)"),
        f"- training data: {card['training_data']['data']} Market-1501 format at "
        f"`{card['training_data']['root']}`, part labels {card['training_data']['part_labels']}, "
        f"input {card['training_data']['input_size'][0]}x{card['training_data']['input_size'][1]}",
        f"- commit: trained {card['commit']['trained']}, exported {card['commit']['exported']}",
        f"- ONNX: opset {onnx['opset']}, {onnx['exporter']} exporter"
        + (f" (dynamo failed: {onnx['fallback']})" if onnx["fallback"] else "")
        + f"; input `{json.dumps(onnx['inputs'])}`, outputs `{json.dumps(onnx['outputs'])}`",
        f"- check in onnxruntime {check['onnxruntime']} on {check['images']['dataset']} query "
        f"images: max |features diff| {check['max_abs_diff_features']:.2e}, visibility equal: "
        f"{check['visibility_equal']} (batch sizes "
        + ", ".join(str(b["batch_size"]) for b in check["batches"])
        + ")",
        "",
        "## Headline metrics (the run's results.csv)",
        "",
    ]
    metrics = pd.DataFrame(card["metrics"])
    lines.append(metrics.to_markdown(index=False) if len(metrics) else "no result rows yet")
    protocol = ", ".join(f"{k}: {v}" for k, v in card["protocol"].items())
    lines += ["", f"Protocol: {protocol}.", "", f"Visibility check: {check['note']}."]
    if not check["visibility_varies"]:
        lines.append(
            "Visibility was the same for every part and check image, so the check did not "
            "exercise part masking (expected for global and stripe methods)."
        )
    return "\n".join(lines) + "\n"


def card_paths(out: Path) -> tuple[Path, Path]:
    """``FILE.card.json`` and ``FILE.card.md`` beside ``FILE.onnx``."""
    out = Path(out)
    return out.with_suffix(".card.json"), out.with_suffix(".card.md")


def write_card(card: dict[str, Any], out: Path) -> None:
    """Write the card beside the ONNX file ``out`` (JSON and Markdown, atomically)."""
    json_path, md_path = card_paths(out)
    write_json_atomic(card, json_path)
    write_text_atomic(card_markdown(card), md_path)
