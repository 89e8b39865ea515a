"""Training throughput of every registered method: images/s and peak memory; run on request.

    python -m benchmark.perf.train_throughput                 # paper profile: ResNet-50, 384x128
    python -m benchmark.perf.train_throughput --profile smoke --steps 2      # quick, on a CPU
    python -m benchmark.perf.train_throughput --backbone resnet18 --batch 16 --methods hpnet
    python -m benchmark.perf.train_throughput --profile cpu --methods hpnet bpbreid \
        --backbone resnet18_quarter timm:deit_small_patch16_224 timm:swin_tiny_patch4_window7_224

One row per method: a full training step as the loop runs it (the ReID batch, then the COCO
batch for methods with a COCO stream, one SGD step on the summed gradients), at the profile's
input size, batch (P x K ReID images + coco_batch crops), precision (``train.amp``: fp16 on CUDA,
bf16 on CPUs with native bf16, else fp32) and memory format (``train.channels_last``), on
random tensors (no data loading: this measures the model, not the disk). ``images_per_s``
counts ReID images; ``coco_per_s`` the COCO crops trained beside them; ``fwd_gflop_per_image``
the floating-point work of one forward pass per image (a backward costs about twice that).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the timed steps (the tensors
PyTorch holds, not the caching allocator's reserve); on the CPU the process's peak resident
set size (``resource.getrusage(...).ru_maxrss``, which counts torch's allocations, unlike
tracemalloc), reported whole and above the RSS peak before the model was built. Each method
runs in a fresh process so that peak is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

import benchmark.plugins  # noqa: F401 - registers the built-ins
import reid_methods  # noqa: F401 - registers the built-ins
from benchmark.errors import UserError
from benchmark.precision import grad_scaler, resolve_precision
from benchmark.profiles import get_profile
from benchmark.provenance import pick_device
from benchmark.training.loop import forward_backward
from reid_methods.base import METHODS, Batch, applicable_options, build_method, list_methods

MARKET_IDS = 751  # Market-1501's training identities: the classifiers' size


@dataclass(frozen=True)
class Spec:
    """One measurement: a method at a profile's settings, with the overrides of the command."""

    method: str
    profile: str = "paper"
    backbone: str | None = None  # None: the profile's
    size: tuple[int, int] | None = None  # (H, W); None: the profile's
    batch: int | None = None  # ReID images per step; None: the profile's P x K
    steps: int = 10
    device: str | None = None  # None: cuda if available, else cpu
    fp32: bool = False  # float32 whatever the profile's train.amp (a host without bf16)


def rss_mb() -> float:
    """This process's peak resident set size in MB (ru_maxrss: KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def measure(spec: Spec) -> dict:
    """Time ``spec.steps`` training steps after one warm-up step; returns the table row."""

    cfg = get_profile(spec.profile)
    t, device = cfg.train, pick_device(spec.device)
    size = spec.size or (cfg.data.height, cfg.data.width)
    batch = spec.batch or t.ids_per_batch * t.images_per_id
    options = applicable_options(spec.method, cfg.method)
    options |= {"backbone": spec.backbone} if spec.backbone else {}
    options.pop("pretrained", None)  # random weights time the same as pretrained ones
    before = rss_mb()
    torch.manual_seed(0)
    model = build_method(spec.method, MARKET_IDS, **options).to(device).train()
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.param_groups(t.lr), lr=t.lr, momentum=t.momentum)
    precision = resolve_precision(t.amp and not spec.fp32, device)
    scaler = grad_scaler(precision, device)
    g = torch.Generator().manual_seed(0)
    coco = t.coco_batch if model.cfg.needs_coco else 0
    reid = Batch(
        torch.randn(batch, 3, *size, generator=g),
        torch.arange(batch) // t.images_per_id % MARKET_IDS,
        torch.randint(0, 5, (batch, *size), generator=g).to(torch.uint8),
    ).to(device)
    coco_images = torch.randn(coco, 3, *size, generator=g).to(device)
    coco_parts = torch.randint(0, 5, (coco, *size), generator=g).to(torch.uint8).to(device)

    def reid_loss(out) -> dict:
        return model.loss(out, reid)

    def coco_loss(masks) -> dict:
        return model.coco_loss(masks, coco_parts)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        forward_backward(model, reid.images, t, scaler, device, reid_loss, precision)
        if coco:
            forward_backward(model.parse, coco_images, t, scaler, device, coco_loss, precision)
        scaler.step(opt)
        scaler.update()

    step()  # warm-up: kernels chosen, buffers allocated
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(spec.steps):
        step()
    sync(device)
    seconds = time.perf_counter() - start
    memory = peak_memory(device, before)  # before the FLOP count's own forward
    return {
        "method": spec.method,
        "backbone": options.get("backbone", model.cfg.backbone),
        "input": f"{size[0]}x{size[1]}",
        "batch": batch,
        "coco_batch": coco,
        "precision": precision,
        "channels_last": t.channels_last,
        "device": str(device),
        "steps": spec.steps,
        "step_ms": round(1000 * seconds / spec.steps, 1),
        "images_per_s": round(batch * spec.steps / seconds, 1),
        "coco_per_s": round(coco * spec.steps / seconds, 1),
        "fwd_gflop_per_image": round(forward_gflop(model, reid.images[:2]), 3),
        **memory,
    }


def forward_gflop(model: torch.nn.Module, images: torch.Tensor) -> float:
    """GFLOP of one training-mode forward per image (torch's FlopCounterMode: convolutions and
    matrix products, the work that bounds a CPU step). Two images: BatchNorm needs more than one."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(images)
    return counter.get_total_flops() / len(images) / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device: torch.device, rss_before: float) -> dict:
    """The peak-memory columns: CUDA's allocated peak, or the process's RSS peak (and growth)."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        return {"peak_mem_mb": round(peak), "mem_above_start_mb": None, "memory": "cuda allocated"}
    peak = rss_mb()
    above = round(peak - rss_before)
    return {"peak_mem_mb": round(peak), "mem_above_start_mb": above, "memory": "ru_maxrss"}


def in_child(spec: Spec) -> dict:
    """``measure(spec)`` in a fresh Python process (its own peak memory); errors become rows."""
    cmd = [
        sys.executable,
        "-m",
        "benchmark.perf.train_throughput",
        "--child",
        json.dumps(asdict(spec)),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return {"method": spec.method, "error": lines[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", default="paper", help="run profile (default: paper)")
    p.add_argument("--methods", nargs="+", help="default: every registered method and variant")
    p.add_argument(
        "--backbone",
        nargs="+",
        help="override the profile's backbone; several: one row per method and backbone, e.g. "
        "resnet50 timm:vit_base_patch16_224 timm:swin_tiny_patch4_window7_224",
    )
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="input size override")
    p.add_argument("--batch", type=int, help="ReID images per step (default: the profile's P x K)")
    p.add_argument("--steps", type=int, default=10, help="timed steps after one warm-up step")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--fp32", action="store_true", help="float32 steps (as with train.amp=false)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        return run(parse_args(argv))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    if args.child:
        spec = json.loads(args.child)
        spec["size"] = tuple(spec["size"]) if spec["size"] else None
        print(json.dumps(measure(Spec(**spec))))
        return 0
    import pandas as pd

    get_profile(args.profile)  # an unknown profile fails before any measurement
    names = args.methods or list_methods()
    for name in names:
        METHODS.get(name)  # an unknown name fails before any measurement
    size = tuple(args.size) if args.size else None
    rows = []
    for backbone in args.backbone or [None]:
        for name in names:
            spec = Spec(
                name, args.profile, backbone, size, args.batch, args.steps, args.device, args.fp32
            )
            rows.append(in_child(spec))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress, one line each
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
