"""Batch samplers: identity (PK) batches and random COCO batches, sharded over DDP ranks.

Every epoch draws from generators seeded by (seed, epoch), so an epoch is the same whether the
run was interrupted before it or not. With ``world`` > 1 (torchrun), each epoch first deals the
identities (COCO crops) into ``world`` disjoint shards, the same deal on every rank; rank r then
draws its 1/world share of every batch from shard r only. In one process (``world`` = 1) nothing
is dealt and the draws are those of the single-process sampler.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from benchmark.errors import DataError

_DEAL = 2  # generator streams of (seed, epoch, stream): 1 is the COCO batches' own (world 1)
_COCO_DEAL = 3
_RANK_DRAWS = 4


def deal(items: np.ndarray, seed: int, epoch: int, stream: int, rank: int, world: int):
    """Rank ``rank``'s share of ``items`` this epoch: every world-th of a shared permutation.

    The shares of ranks 0..world-1 are disjoint and together hold every item; their sizes
    differ by one at most. Sorted, so what a rank draws does not depend on the deal's order.
    """
    order = np.random.default_rng([seed, epoch, stream]).permutation(items)
    return np.sort(order[rank::world])


def _share(total: int, world: int, key: str) -> int:
    if total % world:
        raise DataError(f"{key}={total} does not split over {world} processes; use a multiple")
    return total // world


def require_identities(count: int, p: int, held: int | None = None) -> None:
    """One line when ``count`` training identities cannot fill P = ``p`` per batch.

    ``held``: identities the validation split (``train.val_ids``) carved out, when known.
    """
    if count >= p:
        return
    out = (
        "train.val_ids holds identities out"
        if held is None
        else f"{held} held out by train.val_ids"
    )
    raise DataError(
        f"the training set has {count} identities ({out} for validation), fewer than {p} per "
        "batch; lower train.ids_per_batch or train.val_ids, or use more training data"
    )


class PKSampler:
    """Batches of P identities x K images (Hermans et al.'s batch-hard sampling).

    ``per_identity`` False: each batch draws P identities at random, and an epoch is
    images // (P x K) batches (one pass over the images on average). True (the official code's
    RandomIdentitySampler): an epoch visits every identity once, in a random order, P per batch
    (the last incomplete batch dropped), so it is identities // P batches. ``iters`` overrides
    the count.

    ``rank`` of ``world``: P is the global batch's identity count; this rank's batches hold
    P / world identities x K images, drawn from its share of the identities (``identities``),
    and every rank has the same number of batches.
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        iters: int | None,
        seed: int,
        per_identity: bool = False,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.by_id: dict[int, np.ndarray] = {}
        labels_arr = np.asarray(labels)
        for pid in np.unique(labels_arr):
            self.by_id[int(pid)] = np.flatnonzero(labels_arr == pid)
        require_identities(len(self.by_id), p)
        self.p, self.k, self.seed, self.epoch = p, k, seed, 0
        self.rank, self.world = rank, world
        self.p_rank = _share(p, world, "train.ids_per_batch")
        self.per_identity = per_identity
        natural = len(self.by_id) // p if per_identity else len(labels_arr) // (p * k)
        self.iters = iters or max(1, natural)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.iters

    def identities(self) -> np.ndarray:
        """The identities this rank draws from in the current epoch (all of them in one process)."""
        ids = np.array(sorted(self.by_id))
        if self.world == 1:
            return ids
        return deal(ids, self.seed, self.epoch, _DEAL, self.rank, self.world)

    def __iter__(self) -> Iterator[list[int]]:
        ids = self.identities()
        extra = [_RANK_DRAWS, self.rank] if self.world > 1 else []
        rng = np.random.default_rng([self.seed, self.epoch, *extra])
        p = self.p_rank
        per_pass = len(ids) // p  # per_identity: batches per permutation of the identities
        order = ids
        for b in range(self.iters):
            if not self.per_identity:
                chosen = rng.choice(ids, p, replace=False)
            else:  # consecutive identities of a permutation, a new one when it is used up
                if b % per_pass == 0:
                    order = rng.permutation(ids)
                chosen = order[(b % per_pass) * p : (b % per_pass + 1) * p]
            batch = []
            for pid in chosen:
                pool = self.by_id[int(pid)]
                batch += rng.choice(pool, self.k, replace=len(pool) < self.k).tolist()
            yield batch


class RandomBatches:
    """``iters`` random batches of ``size`` indices per epoch, seeded by (seed, epoch).

    ``rank`` of ``world``: this rank's batches hold ``size`` / world indices of its share of
    the ``n`` items (a DistributedSampler's deal, redrawn each epoch).
    """

    def __init__(
        self, n: int, size: int, iters: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        if n == 0:
            raise DataError(
                "the COCO parsing set is empty; check coco/annotations under the data root"
            )
        if n < world:
            raise DataError(f"the COCO parsing set has {n} crops, fewer than {world} processes")
        self.n, self.size, self.iters, self.seed, self.epoch = n, size, iters, seed, 0
        self.rank, self.world = rank, world
        self.size_rank = _share(size, world, "train.coco_batch")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.iters

    def __iter__(self) -> Iterator[list[int]]:
        if self.world == 1:
            rng = np.random.default_rng([self.seed, self.epoch, 1])
            for _ in range(self.iters):
                yield rng.choice(self.n, self.size, replace=self.n < self.size).tolist()
            return
        share = deal(np.arange(self.n), self.seed, self.epoch, _COCO_DEAL, self.rank, self.world)
        rng = np.random.default_rng([self.seed, self.epoch, _RANK_DRAWS, self.rank])
        for _ in range(self.iters):
            size = self.size_rank
            yield rng.choice(share, size, replace=len(share) < size).tolist()
