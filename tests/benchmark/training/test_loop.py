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
from benchmark.training.data import PKSampler, ReIDImages, collate
from benchmark.training.loop import Streams, fit
from benchmark.training.transforms import PairedTransform
from datasets.base import Sample
from methods import build_method

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
        assert "\n" not in message and "cannot load checkpoint" in message, message
        assert "weights_only" not in message, "never advise the unsafe loader"


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
