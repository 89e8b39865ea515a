"""DDP plumbing: rank-sharded samplers, torchrun's environment, refusals, reduced gradients."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmark.config import TrainConfig
from benchmark.errors import ConfigError, DataError, UserError
from benchmark.loading.samplers import PKSampler, RandomBatches
from benchmark.precision import grad_scaler
from benchmark.training.distributed import SINGLE, Group, check_group, group_from_env
from benchmark.training.loop import Streams, build_optimizer, train_one_epoch
from reid_methods import build_method

CPU = torch.device("cpu")


def test_pk_sampler_deals_disjoint_identities_covering_all_each_epoch() -> None:
    labels = [pid for pid in range(11) for _ in range(2 + pid % 3)]  # 11 ids, 2-4 images each
    everyone = set(range(11))
    for per_identity in (False, True):
        ranks = [PKSampler(labels, 4, 3, None, 5, per_identity, r, 2) for r in range(2)]
        assert len(ranks[0]) == len(ranks[1]), "every rank takes the same number of batches"
        for epoch in range(3):
            shares = []
            for sampler in ranks:
                sampler.set_epoch(epoch)
                share = set(sampler.identities().tolist())
                for batch in sampler:
                    ids = [labels[i] for i in batch]
                    assert len(batch) == 2 * 3, f"P / 2 = 2 identities x K = 3: {ids}"
                    assert all(ids.count(pid) == 3 for pid in set(ids)), f"K of each: {ids}"
                    assert set(ids) <= share, f"rank draws outside its identities: {ids}"
                shares.append(share)
            assert not shares[0] & shares[1], f"epoch {epoch}: shared identities"
            assert shares[0] | shares[1] == everyone, f"epoch {epoch}: identities left out"
            assert abs(len(shares[0]) - len(shares[1])) <= 1, "shares differ by one at most"


def test_pk_sampler_shares_change_with_the_epoch_and_repeat_with_it() -> None:
    labels = [pid for pid in range(20) for _ in range(4)]
    sampler = PKSampler(labels, 4, 2, 3, seed=0, rank=1, world=2)
    first = (sampler.identities().tolist(), list(sampler))
    sampler.set_epoch(1)
    assert sampler.identities().tolist() != first[0], "a new epoch deals anew"
    sampler.set_epoch(0)
    assert (sampler.identities().tolist(), list(sampler)) == first, "an epoch repeats"


def test_per_identity_epoch_over_two_ranks_visits_each_identity_once() -> None:
    labels = [pid for pid in range(16) for _ in range(3)]  # 16 ids, P = 4: 4 batches
    seen = []
    for rank in range(2):
        sampler = PKSampler(labels, 4, 2, None, 0, per_identity=True, rank=rank, world=2)
        seen += [labels[i] for batch in sampler for i in batch[::2]]
    assert sorted(seen) == list(range(16)), f"each identity once over the ranks: {seen}"


def test_one_process_sampler_is_unchanged_by_rank_arguments() -> None:
    labels = [pid for pid in range(9) for _ in range(3)]
    assert list(PKSampler(labels, 3, 2, 4, 7)) == list(PKSampler(labels, 3, 2, 4, 7, False, 0, 1))
    assert PKSampler(labels, 3, 2, 4, 7).identities().tolist() == list(range(9))


def test_coco_batches_are_dealt_disjointly() -> None:
    ranks = [RandomBatches(10, 4, 5, seed=1, rank=r, world=2) for r in range(2)]
    drawn = [{i for batch in sampler for i in batch} for sampler in ranks]
    assert all(len(b) == 2 for s in ranks for b in s), "coco_batch / 2 per rank"
    assert not drawn[0] & drawn[1], f"ranks share COCO crops: {drawn}"
    with pytest.raises(DataError, match="train.coco_batch=5 does not split over 2"):
        RandomBatches(10, 5, 1, 0, 0, 2)


def test_group_from_torchrun_environment() -> None:
    assert group_from_env({}) is SINGLE and SINGLE.main and not SINGLE.distributed
    group = group_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert group == Group(3, 4, 1) and not group.main and group.distributed
    assert group.device_name("cpu") == "cpu"
    with pytest.raises(UserError, match="malformed"):
        group_from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(UserError, match="outside WORLD_SIZE"):
        group_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_sync_bn_and_uneven_batches_refused_before_any_work() -> None:
    two = Group(0, 2, 0)
    with pytest.raises(ConfigError, match="train.sync_bn=true needs CUDA"):
        check_group(two, CPU, True, 16, 32)
    with pytest.raises(ConfigError, match="train.ids_per_batch=3 does not split over 2"):
        check_group(two, CPU, False, 3, 32)
    check_group(SINGLE, CPU, True, 3, 5)  # one process: nothing to split, BN stays BN


CFG = TrainConfig(epochs=1, iters_per_epoch=1, ids_per_batch=2, images_per_id=2, coco_batch=2)


def rank_batches(rank: int) -> Streams:
    """One ReID batch (2 ids x 2 images) and one COCO batch of rank ``rank``'s own data."""
    g = torch.Generator().manual_seed(rank)

    def item(reid: bool) -> dict:
        parts = torch.randint(0, 5, (4, 64, 32), generator=g).to(torch.uint8)
        labels = torch.tensor([0, 0, 1, 1]) + 2 * rank if reid else torch.full((4,), -1)
        return {"images": torch.randn(4, 3, 64, 32, generator=g), "labels": labels, "parts": parts}

    return Streams([item(True)], [item(False)])  # type: ignore[arg-type]


def step_gradients(rank: int, warmup: int, group: Group) -> dict[str, torch.Tensor | None]:
    """The gradients of one HPNet step (ReID + COCO batch) on ``rank``'s data."""
    torch.manual_seed(0)
    model = build_method("hpnet", 4, backbone="resnet18_quarter", head_dim=8)
    cfg = TrainConfig(**{**CFG.__dict__, "parsing_warmup_epochs": warmup, "lr": 1e-9})
    opt, sched = build_optimizer(model, cfg, 1)
    replica = group.replicate(model, CPU, False)
    streams = rank_batches(rank)
    train_one_epoch(
        model, streams, opt, sched, grad_scaler("fp32", CPU), cfg, CPU, 0, "fp32", replica
    )
    return {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()}


def _worker(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    grads = [step_gradients(rank, warmup, Group(rank, 2, rank)) for warmup in (0, 1)]
    torch.save(grads, f"{out}{rank}.pt")
    dist.destroy_process_group()


def _local_worker(_: int, out: str) -> None:
    """Each rank's gradients without DDP, in a fresh process like the DDP workers (the same
    thread count and kernels, whatever an earlier test set up in the pytest process)."""
    torch.set_num_threads(1)
    torch.save([[step_gradients(r, w, SINGLE) for r in range(2)] for w in (0, 1)], out)


def test_ddp_gradients_are_the_mean_of_the_ranks_local_gradients(tmp_path) -> None:
    """Both forwards reduced once, parsing-only warm-up's unused classifiers left without grad."""
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path / "rank")), nprocs=2)
    reduced = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    mp.spawn(_local_worker, args=(str(tmp_path / "local.pt"),), nprocs=1)
    local = torch.load(tmp_path / "local.pt", weights_only=True)
    for case, warmup in enumerate((0, 1)):
        local_case = local[case]
        for name, g0 in local_case[0].items():
            g1 = local_case[1][name]
            for r in range(2):
                got = reduced[r][case][name]
                if g0 is None:
                    assert g1 is None and got is None, f"{name}: no rank has a gradient"
                    continue
                torch.testing.assert_close(
                    got, (g0 + g1) / 2, atol=1e-5, rtol=1e-4, msg=f"warmup {warmup} {name} r{r}"
                )
        unused = [k for k, g in local_case[0].items() if g is None]
        assert (warmup == 1) == any("classifier" in k for k in unused), unused
