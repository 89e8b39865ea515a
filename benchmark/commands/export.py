"""``export``: a trained method of a run to ONNX, checked in onnxruntime, with a model card."""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.commands.values import seed
from benchmark.export.model_card import card_paths
from benchmark.export.onnx_export import export_run

log = logging.getLogger(__name__)


def add_export_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="export a trained method of a run to ONNX (checked in onnxruntime, with a card)",
        description="Export the inference graph (features [N, P, D], visibility [N, P]) of a "
        "trained method with a dynamic batch axis, check it in onnxruntime against PyTorch on "
        "the run's test images, and write FILE.card.json and FILE.card.md beside it.",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    export.add_argument(
        "--method", required=True, help="a method of the run, e.g. hpnet (required)"
    )
    export.add_argument(
        "--seed", type=seed, help="its training seed (default: the first seed with weights)"
    )
    export.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for METHOD-seedS.onnx and its model card (default: RUN_DIR/export)",
    )
    export.add_argument(
        "--exporter",
        choices=("dynamo", "torchscript"),
        default="dynamo",
        help="torch.export-based (falls back to TorchScript when it fails) or TorchScript "
        "(default: dynamo)",
    )
    export.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    out, card = export_run(args.run_dir, args.method, args.seed, args.out, args.exporter)
    check, onnx = card["check"], card["onnx"]
    sizes = ", ".join(str(b["batch_size"]) for b in check["batches"])
    print(f"{out}  (opset {onnx['opset']}, {onnx['exporter']} exporter)")
    print(
        f"onnxruntime check on {check['images']['dataset']} query images, batch sizes {sizes}: "
        f"max |features diff| {check['max_abs_diff_features']:.2e}, "
        f"visibility equal: {check['visibility_equal']}"
    )
    if not check["visibility_varies"]:
        print(
            "note: visibility was the same for every part and image here, so the check did not "
            "exercise part masking (expected for global and stripe methods)"
        )
    print("model card: " + "  ".join(str(p) for p in card_paths(out)))
    return 0 if check["visibility_equal"] else 1
