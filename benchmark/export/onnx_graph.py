"""The exported inference graph (features, visibility), its two exporters, its onnxruntime check.

The graph takes normalised images ``[N, 3, H, W]`` (the run's eval transform: resize to the
run's input size, ImageNet mean/std) with a dynamic batch axis and returns the method's
``Output.features`` ``[N, P, D]`` and ``Output.visibility`` ``[N, P]``. Visibility is computed
inside the graph exactly as in PyTorch (HPNet: ``max 1{G > T}``), so the check compares the
binary outputs themselves: a mask probability within float error of ``T`` could flip one, and
the check counts such flips.
"""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmark.atomic import atomic_path
from benchmark.errors import UserError
from reid_methods.base import Method

log = logging.getLogger(__name__)

EXPORTERS = ("dynamo", "torchscript")
INPUT, OUTPUTS = "images", ("features", "visibility")
CHECK_BATCHES = (8, 3)  # two batch sizes: the second proves the batch axis is dynamic


class InferenceGraph(nn.Module):
    """What is exported: ``images -> (features [N, P, D], visibility [N, P])``."""

    def __init__(self, model: Method) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(images)
        return out.features, out.visibility


@contextmanager
def quiet_loggers(names: tuple[str, ...] = ("onnxscript", "onnx_ir", "torch.onnx")):
    """Keep the exporter's optimisation passes' INFO lines out of the user's log."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _dynamo(graph: nn.Module, example: Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    with quiet_loggers():
        _dynamo_export(graph, example, path, batch)


def _dynamo_export(graph: nn.Module, example: Tensor, path: Path, batch) -> None:
    torch.onnx.export(
        graph,
        (example,),
        str(path),
        dynamo=True,
        input_names=[INPUT],
        output_names=list(OUTPUTS),
        dynamic_shapes=({0: batch},),
        external_data=False,  # one self-contained file (the weights stay far below 2 GB)
        verbose=False,
    )


def _torchscript(graph: nn.Module, example: Tensor, path: Path) -> None:
    axes = {name: {0: "batch"} for name in (INPUT, *OUTPUTS)}
    with warnings.catch_warnings():  # its deprecation notice is for torch, not for the user
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (example,),
            str(path),
            dynamo=False,
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
        )


def export_onnx(graph: nn.Module, example: Tensor, path: Path, exporter: str) -> dict[str, Any]:
    """Write ``graph`` to ``path`` (atomically), dynamo first, then the TorchScript exporter.

    Returns:
        ``exporter`` (the one that wrote the file), ``fallback`` (why dynamo failed, or None)
        and ``opset`` (the default domain's opset of the file).
    """
    import onnx

    order = {"dynamo": ("dynamo", "torchscript"), "torchscript": ("torchscript",)}[exporter]
    failures: dict[str, str] = {}
    for name in order:
        try:
            with atomic_path(path) as tmp:
                {"dynamo": _dynamo, "torchscript": _torchscript}[name](graph, example, tmp)
                onnx.checker.check_model(str(tmp))
        except Exception as e:  # noqa: BLE001 - an exporter failure falls back, then is reported
            lines = str(e).strip().splitlines()
            failures[name] = f"{type(e).__name__}: {lines[0] if lines else ''}"[:300]
            log.warning("the %s ONNX exporter failed (%s)", name, failures[name])
            continue
        opset = next(
            o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")
        )
        return {"exporter": name, "fallback": failures.get("dynamo"), "opset": int(opset)}
    raise UserError(f"ONNX export failed with every exporter: {json.dumps(failures)}")


def check_onnx(path: Path, graph: nn.Module, images: Tensor) -> dict[str, Any]:
    """Run the file in onnxruntime on ``CHECK_BATCHES`` batches of ``images`` against PyTorch."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batches: list[dict[str, Any]] = []
    start = 0
    for size in CHECK_BATCHES:
        x = images[start : start + size]  # [n, 3, H, W]
        start += size
        with torch.no_grad():
            ref_f, ref_v = (t.numpy() for t in graph(x))
        feats, vis = session.run(list(OUTPUTS), {INPUT: x.numpy()})
        batches.append(
            {
                "batch_size": size,
                "features_shape": list(feats.shape),
                "visibility_shape": list(vis.shape),
                "max_abs_diff_features": float(np.abs(feats - ref_f).max()),
                "visibility_equal": bool(np.array_equal(vis, ref_v)),
                "visibility_mismatches": int((vis != ref_v).sum()),
                "visible_fraction": float(ref_v.mean()),
            }
        )
    return {
        "onnxruntime": ort.__version__,
        "provider": "CPUExecutionProvider",
        "batches": batches,
        "max_abs_diff_features": max(b["max_abs_diff_features"] for b in batches),
        "visibility_equal": all(b["visibility_equal"] for b in batches),
        # all 0 or all 1: the features' masking went unexercised (say so, never hide it)
        "visibility_varies": 0 < float(np.mean([b["visible_fraction"] for b in batches])) < 1,
    }
