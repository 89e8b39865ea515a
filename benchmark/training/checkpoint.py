"""Atomic save/load of model, optimiser, scheduler, epoch and every RNG state."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.atomic import atomic_path
from benchmark.errors import UserError


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through ``atomic_path``, so a crash never leaves half a file.

    It writes to an open file: saving to a path turns a full disk into torch's RuntimeError,
    a file object keeps the OSError (errno) that ``atomic_path`` reports as one line.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def rng_state() -> dict[str, Any]:
    """Every RNG state the training loop draws from, as tensors/plain data (weights_only-safe)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], 0, 0.0))


def save_checkpoint(
    path: Path, model, optimizer, scheduler, epoch: int, extra: dict | None = None
) -> None:
    """Save the state after ``epoch`` epochs (1-based count of finished epochs)."""
    atomic_torch_save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "rng": rng_state(),
            "extra": extra or {},
        },
        path,
    )


def load_checkpoint(path: Path, model, optimizer=None, scheduler=None) -> dict[str, Any]:
    """Restore a checkpoint (``weights_only=True``); returns it (epoch, extra, ...).

    Raises:
        UserError: one line for a corrupt, truncated, foreign or refused file (never torch's
            own text, which advises the unsafe ``weights_only=False``).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    except Exception as e:  # noqa: BLE001 - any failure here is a bad file for the user
        raise UserError(
            f"cannot load checkpoint {path} ({type(e).__name__}): it is corrupt, truncated, or "
            "not a checkpoint of this run, and it is never unpickled unsafely; delete it to "
            "train that method from scratch"
        ) from e
    return state
