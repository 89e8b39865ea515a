"""ONNX export of a run's trained method: rebuild it from its checkpoint, export, check, card.

The graph and its check live in ``benchmark.export.onnx_graph``; the card in
``benchmark.export.model_card``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmark.config import RunConfig, loader_options
from benchmark.errors import DataError, UserError, folder_problem
from benchmark.export.model_card import model_card, write_card
from benchmark.export.onnx_graph import (
    CHECK_BATCHES,
    InferenceGraph,
    check_onnx,
    export_onnx,
)
from benchmark.loading.data import ReIDImages
from benchmark.loading.roots import data_root, load_test_set
from benchmark.state_files import load_state, tensor_dict
from benchmark.store.run_folder import CHECKPOINT, DONE, check_out_dir, job_dir, read_run_config
from reid_datasets.base import examples_set
from reid_methods.base import Method, applicable_options, build_method

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedModel:
    """A method's trained weights from a run folder, rebuilt in eval mode on the CPU."""

    run_dir: Path
    cfg: RunConfig
    method: str
    seed: int
    model: Method
    num_classes: int
    epoch: int
    finished: bool


def pick_job(run_dir: Path, cfg: RunConfig, method: str, seed: int | None) -> tuple[int, Path]:
    """The seed and checkpoint path of ``method`` in the run (the first seed with one)."""
    if method not in cfg.methods:
        raise UserError(
            f"method {method!r} is not in run {run_dir} (its methods: {', '.join(cfg.methods)}); "
            "pick one of them with --method"
        )
    if seed is not None and seed not in cfg.seeds:
        seeds = " ".join(map(str, cfg.seeds))
        raise UserError(f"seed {seed} is not in run {run_dir} (its seeds: {seeds}); pick one")
    for s in cfg.seeds if seed is None else (seed,):
        path = job_dir(run_dir, method, s) / CHECKPOINT
        if path.is_file():
            return s, path
    where = job_dir(run_dir, method, cfg.seeds[0] if seed is None else seed) / CHECKPOINT
    raise UserError(
        f"no checkpoint of {method} in {run_dir} (looked for {where}); train it first "
        f"with 'python -m benchmark run --resume {run_dir}'"
    )


def _class_axis_differs(probe: torch.Size, saved: torch.Size) -> bool:
    """A 1-class probe's tensor that the checkpoint holds with more rows, alike otherwise."""
    return len(probe) == len(saved) > 0 and probe[0] == 1 != saved[0] and probe[1:] == saved[1:]


def classes_in(state: dict[str, Tensor], method: str, options: dict[str, Any]) -> int:
    """The identity count the checkpoint was trained with, read off its classifier shapes.

    Only classifiers depend on the class count, so a probe built for 1 class differs from the
    checkpoint exactly in their first dimension.
    """
    probe = build_method(method, 1, **options).state_dict()
    sizes = {
        state[k].shape[0]
        for k, v in probe.items()
        if k in state and _class_axis_differs(v.shape, state[k].shape)
    }
    if len(sizes) > 1:
        raise UserError(
            f"the checkpoint's classifiers disagree on the class count {sorted(sizes)}; "
            f"it is not a checkpoint of {method}"
        )
    return int(sizes.pop()) if sizes else 1


def load_trained(run_dir: Path, method: str, seed: int | None = None) -> TrainedModel:
    """Rebuild ``method`` of run ``run_dir`` from its checkpoint (one-line errors)."""
    run_dir = Path(run_dir)
    if problem := folder_problem(run_dir):
        raise UserError(f"run folder {run_dir} {problem}; pass a folder made by 'run'")
    cfg = read_run_config(run_dir)
    seed, path = pick_job(run_dir, cfg, method, seed)
    todo = f"retrain with 'python -m benchmark run --resume {run_dir}'"
    ckpt = load_state(path, "checkpoint", todo)
    if not isinstance(ckpt.get("model"), dict):
        raise UserError(f"checkpoint {path} holds no model weights; {todo}")
    state = tensor_dict(ckpt["model"], path, "checkpoint", todo)
    # the weights come from the checkpoint: a pretrained file need not exist any more
    options = applicable_options(method, cfg.method) | {"pretrained": None}
    num_classes = classes_in(state, method, options)
    model = build_method(method, num_classes, **options)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise UserError(
            f"checkpoint {path} does not fit method {method} as the run configures it: "
            f"{lines[1] if len(lines) > 1 else lines[0]}"[:300]
        ) from e
    finished = (path.parent / DONE).is_file()
    epoch = int(ckpt.get("epoch", 0))
    return TrainedModel(run_dir, cfg, method, seed, model.eval(), num_classes, epoch, finished)


def test_images(cfg: RunConfig, count: int) -> tuple[Tensor, dict[str, Any]]:
    """The first ``count`` query images of a test set of the run, through its eval transform.

    Occluded-REID first when the run tested on it: occluded people hide parts, so the check
    sees both visible and invisible parts.
    """
    root, kind = data_root(cfg.data.root, cfg.data.synth_profile, cfg.data.synth_overrides())
    # the examples set first (registered with examples=True; the paper's Figs. 5 and 6 set)
    name = next((d for d in (examples_set(), *cfg.eval.datasets) if d in cfg.eval.datasets), None)
    name = name or "market1501"
    samples = list(load_test_set(name, root, loader_options(cfg, name)).query)
    if not samples:
        raise DataError(f"{name} under {root} has no query image to check the export on")
    samples = [samples[i % len(samples)] for i in range(count)]
    images = ReIDImages(samples, (cfg.data.height, cfg.data.width))
    batch = torch.stack([images[i][0] for i in range(count)])  # [count, 3, H, W]
    source = {"dataset": name, "split": "query", "root": str(root), "data": kind}
    return batch, source | {"images": [str(s.path) for s in samples]}


def export_run(
    run_dir: Path,
    method: str,
    seed: int | None = None,
    out_dir: Path | None = None,
    exporter: str = "dynamo",
) -> tuple[Path, dict[str, Any]]:
    """Export ``method`` of a run to ONNX, check it in onnxruntime, write its model card.

    Args:
        out_dir: the folder of ``METHOD-seedS.onnx`` and its card (default: RUN_DIR/export).

    Returns:
        The ONNX file and the card (also written beside it as ``.card.json`` and ``.card.md``).
    """
    folder = Path(out_dir) if out_dir is not None else Path(run_dir) / "export"
    trained = load_trained(Path(run_dir), method, seed)
    check_out_dir(folder)  # a file or an unwritable place: one line, before the export
    out = folder / f"{method}-seed{trained.seed}.onnx"
    images, source = test_images(trained.cfg, sum(CHECK_BATCHES))
    graph = InferenceGraph(trained.model).eval()
    how = export_onnx(graph, images[: CHECK_BATCHES[0]], out, exporter)
    check = check_onnx(out, graph, images) | {"images": source}
    card = model_card(trained, how, check, out)
    write_card(card, out)
    return out, card
