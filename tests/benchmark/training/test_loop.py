"""Training loop: loss log, checkpoints, resume equals an uninterrupted run, non-finite stop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from benchmark.config import TrainConfig
from benchmark.errors import NonFiniteError, UserError
from benchmark.loading.data import PKSampler, ReIDImages, collate
from benchmark.loading.transforms import PairedTransform
from benchmark.training.loop import Streams, fit
from reid_datasets.base import Sample
from reid_methods import build_method

CFG = TrainConfig(
    epochs=2,
    iters_per_epoch=2,
    ids_per_batch=2,
    images_per_id=2,
    lr=0.01,
    decay_epochs=(1,),
    coco_batch=2,
)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[Sample]:
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    out = []
    for pid in range(4):
        colour = rng.integers(0, 255, 3)
        for k in range(3):
            img = np.clip(colour + rng.normal(0, 20, (64, 32, 3)), 0, 255).astype(np.uint8)
            path = root / f"{pid:04d}_c1s1_{k:06d}_00.png"
            Image.fromarray(img).save(path)
            out.append(Sample(path, pid, 0))
    return out


def streams(samples: list[Sample]) -> Streams:
    labels = [s.pid for s in samples]
    sampler = PKSampler(labels, 2, 2, CFG.iters_per_epoch, seed=0)
    ds = ReIDImages(samples, (64, 32), labels, transform=PairedTransform(flip=True))
    return Streams(DataLoader(ds, batch_sampler=sampler, collate_fn=collate))


def train(samples, run_dir, epochs: int):
    torch.manual_seed(0)
    model = build_method("baseline", 4, backbone="resnet18_quarter")
    cfg = TrainConfig(**{**CFG.__dict__, "epochs": epochs})
    log = fit(model, streams(samples), cfg, run_dir, torch.device("cpu"))
    return model, log


def test_log_and_checkpoint_written(samples, tmp_path) -> None:
    _, log = train(samples, tmp_path, 2)
    assert (tmp_path / "checkpoint.pt").exists() and not list(tmp_path.glob("*.tmp*"))
    saved = pd.read_csv(tmp_path / "train_log.csv")
    assert list(saved["epoch"]) == [1, 2]
    assert {"loss_id", "loss_triplet", "loss_total", "lr"} <= set(saved.columns)
    assert saved["lr"].tolist() == pytest.approx([0.01, 0.001]), "step decay after epoch 1"
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and {"model", "optimizer", "scheduler", "rng"} <= set(state)


def test_resume_matches_uninterrupted(samples, tmp_path) -> None:
    full, full_log = train(samples, tmp_path / "full", 2)
    train(samples, tmp_path / "cut", 1)  # "interrupted" after one epoch
    torch.manual_seed(123)  # a resumed process starts from unrelated RNG state
    resumed, resumed_log = train(samples, tmp_path / "cut", 2)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=f"{k} differs after resume")
    pd.testing.assert_frame_equal(full_log, resumed_log)


def test_non_finite_loss_stops_and_keeps_checkpoint(samples, tmp_path) -> None:
    train(samples, tmp_path, 1)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    torch.manual_seed(0)
    model = build_method("baseline", 4, backbone="resnet18_quarter")
    model.loss = lambda out, batch: {"id": torch.tensor(float("nan"), requires_grad=True)}
    with pytest.raises(NonFiniteError, match="loss term\\(s\\) id became non-finite at epoch 2"):
        fit(model, streams(samples), CFG, tmp_path, torch.device("cpu"))
    assert (tmp_path / "checkpoint.pt").read_bytes() == before, "last good checkpoint must stay"


def test_official_recipe_term_schedule() -> None:
    from benchmark.training.loop import dropped_terms

    official = TrainConfig(parsing_warmup_epochs=2, alternate_id_triplet=True)
    assert dropped_terms(official, 0, 0) == {"id", "triplet"}, "warm-up trains parsing only"
    assert dropped_terms(official, 2, 0) == {"id"} and dropped_terms(official, 2, 1) == {"triplet"}
    assert dropped_terms(TrainConfig(), 0, 0) == frozenset(), "the paper's recipe drops nothing"
    assert dropped_terms(official, 0, 1, parsing=False) == {"triplet"}, "no warm-up without parsing"
    for step in (0, 1):  # official lambda_tri = 0 run: ide_tri_iter=False; PCB has no triplet
        assert dropped_terms(official, 2, step, triplet=False) == frozenset(), "ID every step"


def test_id_loss_every_step_without_a_triplet_term(samples, tmp_path, monkeypatch) -> None:
    """The loop alternates ID and triplet only for methods that have a triplet term."""
    from benchmark.training import loop

    seen: list[set[str]] = []
    real = loop.check_finite
    monkeypatch.setattr(loop, "check_finite", lambda t, e, s: seen.append(set(t)) or real(t, e, s))
    official = TrainConfig(**{**CFG.__dict__, "epochs": 1, "alternate_id_triplet": True})
    cases = (("pcb", {"reduce_dim": 32}, [{"id"}] * 2), ("baseline", {}, [{"triplet"}, {"id"}]))
    for name, options, want in cases:
        seen.clear()
        torch.manual_seed(0)
        model = build_method(name, 4, backbone="resnet18_quarter", **options)
        fit(model, streams(samples), official, tmp_path / name, torch.device("cpu"))
        assert seen == want, f"{name}: terms per step {seen}, expected {want}"


def test_resume_with_a_lower_rate_uses_it_from_the_checkpoint(samples, tmp_path) -> None:
    train(samples, tmp_path, 1)
    torch.manual_seed(0)
    model = build_method("baseline", 4, backbone="resnet18_quarter")
    lower = TrainConfig(**{**CFG.__dict__, "lr": 0.004})
    log = fit(model, streams(samples), lower, tmp_path, torch.device("cpu"))
    assert log["lr"].tolist() == pytest.approx([0.01, 0.0004]), "epoch 2: 0.004 x decay 0.1"
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    rates = [g["initial_lr"] for g in state["optimizer"]["param_groups"]]
    expected = [g["lr"] for g in model.param_groups(0.004)]
    assert rates == pytest.approx(expected), "every parameter group scaled, new layers too"
    assert state["scheduler"]["base_lrs"] == pytest.approx(expected)


def test_refused_checkpoint_is_one_line_without_unsafe_advice(samples, tmp_path) -> None:
    import argparse

    # a class the safe loader will not unpickle (a malicious file would name os.system)
    torch.save({"model": argparse.Namespace(x=1)}, tmp_path / "checkpoint.pt")
    model = build_method("baseline", 4, backbone="resnet18_quarter")
    for content in (None, b"PK\x03\x04 truncated"):
        if content is not None:
            (tmp_path / "checkpoint.pt").write_bytes(content)
        with pytest.raises(UserError) as info:
            fit(model, streams(samples), CFG, tmp_path, torch.device("cpu"))
        message = str(info.value)
        assert "\n" not in message and "checkpoint" in message, message
        assert str(tmp_path / "checkpoint.pt") in message, "the file is named"
        assert "weights_only" not in message, "never advise the unsafe loader"


def test_coco_batches_leave_the_necks_running_statistics(tmp_path) -> None:
    """A training step runs the COCO batch through ``parse``: the necks count ReID batches only."""
    from benchmark.precision import grad_scaler
    from benchmark.training.loop import build_optimizer, train_one_epoch

    g = torch.Generator().manual_seed(0)

    def item(label: int) -> dict:
        parts = torch.randint(0, 5, (4, 64, 32), generator=g).to(torch.uint8)
        labels = torch.tensor([0, 0, 1, 1]) if label >= 0 else torch.full((4,), -1)
        return {"images": torch.randn(4, 3, 64, 32, generator=g), "labels": labels, "parts": parts}

    torch.manual_seed(0)
    model = build_method("hpnet", 2, backbone="resnet18_quarter", head_dim=16)
    cfg = TrainConfig(**{**CFG.__dict__, "epochs": 1})
    reid, coco = [item(0), item(0)], [item(-1), item(-1)]
    opt, sched = build_optimizer(model, cfg, len(reid))
    scaler = grad_scaler("fp32", torch.device("cpu"))
    terms = train_one_epoch(
        model, Streams(reid, coco), opt, sched, scaler, cfg, torch.device("cpu"), 0
    )  # type: ignore[arg-type]
    assert "loss_coco_parsing" in terms, f"the COCO stream must train: {sorted(terms)}"
    for j, neck in enumerate(model.necks):
        assert int(neck.bn.num_batches_tracked) == 2, f"neck {j} saw a COCO batch"


def test_validation_columns_logged_when_due(samples, tmp_path) -> None:
    calls = []

    def validate(model, epoch: int) -> dict[str, float]:
        calls.append(epoch)
        return {"val_rank1": 0.5} if epoch == 1 else {}

    torch.manual_seed(0)
    model = build_method("baseline", 4, backbone="resnet18_quarter")
    log = fit(model, streams(samples), CFG, tmp_path, torch.device("cpu"), validate)
    assert calls == [0, 1], "called after every epoch"
    logged = pd.read_csv(tmp_path / "train_log.csv")
    assert np.isnan(logged["val_rank1"][0]) and logged["val_rank1"][1] == 0.5, "when due"
    assert log["val_rank1"].tolist()[1] == 0.5, "returned log too"
