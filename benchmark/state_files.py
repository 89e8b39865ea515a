"""Torch state files (checkpoints, pretrained weights): written atomically, read safely.

Reading never unpickles arbitrary objects (``weights_only=True``), and any file that is not
what it should be (missing, a folder, corrupt, truncated, a crafted zip, a pickled list or
tensor instead of a state dict) is one line naming the file and what to do, never torch's text
(which advises the unsafe ``weights_only=False``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from benchmark.atomic import write_bytes_atomic
from benchmark.errors import UserError

WRAPPERS = ("state_dict", "model")  # keys under which training scripts nest the weights


def save_state(obj: Any, path: Path) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically: a failed write keeps the previous file.

    It serialises in memory first, then writes the bytes with Python's file I/O: torch's zip
    writer turns a full disk or a file-size limit met midway into a C++ "enforce fail"
    RuntimeError, Python's write keeps the OSError (ENOSPC, EFBIG) that the atomic writer
    reports as one line naming the file.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(buffer.getbuffer(), path)


def load_state(path: Path, what: str, todo: str) -> dict[str, Any]:
    """The dict saved in ``path`` (weights only); ``what`` names the file, ``todo`` the fix."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file; {todo}")
    if not path.is_file():
        raise UserError(f"{what} {path} not found; {todo}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(
            f"cannot read {what} {path} ({type(e).__name__}): it is corrupt, truncated or not "
            f"a file saved with torch.save, and it is never unpickled unsafely; {todo}"
        ) from e
    if not isinstance(state, dict):
        raise UserError(f"{what} {path} holds a {type(state).__name__}, not a dict; {todo}")
    return state


def tensor_dict(state: dict[str, Any], path: Path, what: str, todo: str) -> dict[str, Any]:
    """The name -> tensor mapping in ``state`` (unwrapped from ``state_dict``/``model``, with
    DataParallel's ``module.`` prefix removed); anything else is one line."""
    for key in WRAPPERS:
        if isinstance(state.get(key), dict):
            state = state[key]
    bad = next((k for k, v in state.items() if not torch.is_tensor(v)), None)
    if not state or bad is not None:
        detail = "no tensors" if not state else f"{bad!r} is not a tensor"
        raise UserError(f"{what} {path} is not a state dict ({detail}); {todo}")
    return {str(k).removeprefix("module."): v for k, v in state.items()}
