"""Provenance of a run: environment (versions, git commit, device), device choice, seeding,
portable numerics."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.errors import UserError


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given and usable here, else CUDA when available, else the CPU.

    Raises:
        UserError: an unknown device string, or one this machine does not have (one line).
    """
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise UserError(
            f"unknown device {name!r}; pass cpu, cuda or cuda:N (or leave --device out)"
        ) from e
    available = {"cpu": 1, "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0}
    count = available.get(device.type)
    if count is None:
        raise UserError(f"device {name!r} is not supported here; pass cpu, cuda or cuda:N")
    if count == 0:
        raise UserError(f"device {name!r}: this machine has no CUDA device; pass --device cpu")
    if device.index is not None and device.index >= count:
        raise UserError(f"device {name!r}: this machine has {count} CUDA device(s); pick one")
    return device


# Environment read by the libraries: generic ATen kernels, SSE4.1 oneDNN, MKL's compatible path.
PORTABLE_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "COMPATIBLE",
}


def pin_portable_numerics(threads: int = 2) -> None:
    """Use kernels that give the same numbers on any x86-64 CPU (before the first torch op).

    Generic ATen kernels, SSE4.1 oneDNN kernels, MKL's compatible code path and two threads:
    AVX2 vs AVX-512 kernels alone moved a third of the smoke metrics by up to 29 points.
    (``threads``: 1 per torchrun process, so N processes do not oversubscribe the cores.)
    """
    os.environ.update(PORTABLE_NUMERICS)
    torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random; samplers use their own seeded generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _git_commit(repo: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def env_info() -> dict[str, Any]:
    """Versions, platform, git commit (None outside a git checkout) and device of this run."""
    import pandas as pd
    import torchvision

    device = "cpu"
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)} x{torch.cuda.device_count()})"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "git_commit": _git_commit(Path(__file__).resolve().parent.parent),
        "device": device,
        # the kernels in use: AVX2 vs AVX-512 (or DEFAULT, the portable CI setting) moves numbers
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
