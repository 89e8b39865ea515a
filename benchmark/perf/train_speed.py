"""Training throughput (images/s) and peak memory per method; run on request.

    python -m benchmark.perf.train_speed --profile cpu [--methods ...] [--size 384 128] [--steps 5]

Each method is measured in a fresh subprocess so peak RSS (or CUDA peak memory) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def measure(method: str, profile: str, size: tuple[int, int], steps: int, batch: int) -> dict:
    import methods  # noqa: F401 - registers the built-ins
    from benchmark.profiles import get_profile
    from methods.base import Batch, applicable_options, build_method

    cfg = get_profile(profile)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_method(method, 500, **applicable_options(method, cfg.method)).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, *size, generator=g).to(device)
    pids = torch.arange(batch, device=device) // 4
    parts = torch.randint(0, 5, (batch, *size), generator=g).to(torch.uint8).to(device)
    coco = cfg.train.coco_batch if model.cfg.needs_coco else 0
    coco_images = torch.randn(coco, 3, *size, generator=g).to(device)
    coco_parts = torch.randint(0, 5, (coco, *size), generator=g).to(torch.uint8).to(device)

    def step() -> None:
        opt.zero_grad()
        sum(model.loss(model(images), Batch(images, pids, parts)).values()).backward()
        if coco:
            sum(model.coco_loss(model.parse(coco_images), coco_parts).values()).backward()
        opt.step()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = (
        torch.cuda.max_memory_allocated()
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "method": method,
        "profile": profile,
        "input": f"{size[0]}x{size[1]}",
        "batch": batch,
        "coco_batch": coco,
        "reid_images_per_s": round(batch * steps / dt, 1),
        "peak_mem_mb": round(peak / 2**20),
        "device": device.type,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", default="cpu")
    p.add_argument(
        "--methods",
        nargs="+",
        default=[
            "baseline",
            "pcb",
            "hpnet",
            "hpnet_share_conv5",
            "hpnet_wo_triplet",
            "hpnet_wo_coco",
        ],
    )
    p.add_argument("--size", type=int, nargs=2, help="H W (default: the profile's input size)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, help="default: the profile's P x K")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    from benchmark.profiles import get_profile

    cfg = get_profile(a.profile)
    size = tuple(a.size or (cfg.data.height, cfg.data.width))
    batch = a.batch or cfg.train.ids_per_batch * cfg.train.images_per_id
    if a.child:
        print(json.dumps(measure(a.methods[0], a.profile, size, a.steps, batch)))
        return
    import pandas as pd

    rows = []
    for m in a.methods:
        cmd = [
            sys.executable,
            "-m",
            "benchmark.perf.train_speed",
            "--child",
            "--profile",
            a.profile,
            "--methods",
            m,
            "--size",
            *map(str, size),
            "--steps",
            str(a.steps),
            "--batch",
            str(batch),
        ]
        rows.append(
            json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        )
        print(json.dumps(rows[-1]), flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
