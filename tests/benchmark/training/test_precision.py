"""Training precision: what train.amp resolves to, its autocast, the rows that record it."""

from __future__ import annotations

import torch

from benchmark import precision as P
from benchmark.profiles import get_profile


def test_amp_off_is_float32_everywhere():
    for device in ("cpu", "cuda"):
        assert P.resolve_precision(False, torch.device(device)) == "fp32"


def test_amp_is_float16_on_cuda_and_follows_native_bf16_on_cpus(monkeypatch):
    assert P.resolve_precision(True, torch.device("cuda")) == "fp16"
    monkeypatch.setattr(P, "native_bf16", lambda: True)
    assert P.resolve_precision(True, torch.device("cpu")) == "bf16"
    monkeypatch.setattr(P, "native_bf16", lambda: False)
    assert P.resolve_precision(True, torch.device("cpu")) == "fp32", "emulated bf16 is slower"


def test_a_note_only_when_amp_falls_back_to_fp32_on_a_cpu(monkeypatch):
    def note(amp: bool, device: str):
        return P.precision_note(amp, P.resolve_precision(amp, torch.device(device)))

    monkeypatch.setattr(P, "native_bf16", lambda: False)
    line = note(True, "cpu")
    assert line is not None and "no native bfloat16" in line and "\n" not in line
    assert note(False, "cpu") is None  # fp32 asked for: nothing to say
    assert note(True, "cuda") is None
    monkeypatch.setattr(P, "native_bf16", lambda: True)
    assert note(True, "cpu") is None


def test_autocast_computes_in_the_resolved_dtype():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with P.autocast("bf16", torch.device("cpu")):
        assert (a @ b).dtype == torch.bfloat16
    with P.autocast("fp32", torch.device("cpu")):
        assert (a @ b).dtype == torch.float32


def test_only_float16_gets_an_active_scaler():
    assert not P.grad_scaler("bf16", torch.device("cpu")).is_enabled()
    assert not P.grad_scaler("fp32", torch.device("cpu")).is_enabled()


def test_smoke_stays_portable_float32_and_cpu_asks_for_amp():
    assert not get_profile("smoke").train.amp, "CI must stay deterministic on any CPU"
    assert get_profile("cpu").train.amp and get_profile("cpu").train.channels_last


def test_a_training_step_runs_under_bfloat16_autocast():
    """The bf16 path works for every loss term (native-bf16 CPUs take it in the cpu profile)."""
    import reid_methods  # noqa: F401 - registers the built-ins
    from benchmark.training.loop import forward_backward
    from reid_methods.base import Batch, applicable_options, build_method

    cfg = get_profile("smoke")
    torch.manual_seed(0)
    model = build_method("hpnet", 4, **applicable_options("hpnet", cfg.method)).train()
    images = torch.randn(8, 3, 64, 32)
    batch = Batch(images, torch.arange(8) // 2, torch.randint(0, 5, (8, 64, 32)).to(torch.uint8))
    scaler = P.grad_scaler("bf16", torch.device("cpu"))
    terms = forward_backward(
        model,
        images,
        cfg.train,
        scaler,
        torch.device("cpu"),
        lambda out: model.loss(out, batch),
        "bf16",
    )
    assert terms and all(torch.isfinite(torch.tensor(v)) for v in terms.values()), terms
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 for g in grads), "master weights stay float32"
