"""Atomic save/load of model, optimiser, scheduler, epoch and every RNG state."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.errors import UserError
from benchmark.state_files import load_state, save_state


def rng_state() -> dict[str, Any]:
    """Every RNG state the training loop draws from, as tensors/plain data (weights_only-safe)."""
    # numpy's stubs pick the dict overload, but the default (legacy=True) returns this tuple
    np_state: tuple[str, np.ndarray, int, int, float]
    np_state = np.random.get_state()  # type: ignore[assignment]
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
    save_state(
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
    todo = "delete it to train that method from scratch"
    state = load_state(path, "checkpoint", todo)
    try:
        model.load_state_dict(state["model"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    except Exception as e:  # noqa: BLE001 - any failure here is a bad file for the user
        raise UserError(
            f"cannot load checkpoint {path} ({type(e).__name__}): it is not a checkpoint of "
            f"this run; {todo}"
        ) from e
    return state
