"""Training precision: which autocast ``train.amp`` gets on this device, and the context for it.

``train.amp`` asks for mixed precision; what it gets depends on the hardware:

- CUDA: float16 autocast with a gradient scaler (the paper's GPUs);
- a CPU with native bfloat16 (AVX-512 BF16 or AMX, as oneDNN reports it): bfloat16 autocast,
  no scaler (bfloat16 keeps float32's range);
- any other CPU: float32. Emulated bfloat16 is slower than float32 there, so asking is harmless.

The resolved precision is recorded in ``env.json`` and in every result row, so a table never
mixes precisions silently.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's own check; False if unknown)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(amp: bool, device: torch.device) -> str:
    """The precision ``train.amp`` gives on ``device``: "fp16", "bf16" or "fp32"."""
    if not amp:
        return "fp32"
    if device.type == "cuda":
        return "fp16"
    return "bf16" if device.type == "cpu" and native_bf16() else "fp32"


def precision_note(amp: bool, precision: str) -> str | None:
    """One line for the run log when ``train.amp`` resolved to ``precision`` fp32: a CPU without
    native bf16 (CUDA always gets fp16)."""
    if not amp or precision != "fp32":
        return None
    return (
        f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bfloat16: training "
        "runs in fp32, several times slower than with bf16 (README, 'What the default run "
        "gives'); --profile smoke is a quick check"
    )


def autocast(precision: str, device: torch.device):
    """The autocast context of ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A scaler that is active only for float16 (bfloat16 and float32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
