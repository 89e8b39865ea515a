"""The training loaders of one run: PK-batched ReID images and the COCO parsing stream."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from benchmark.config import RunConfig
from benchmark.loading.data import CocoParts, ReIDImages, collate, upright_instances
from benchmark.loading.samplers import PKSampler, RandomBatches
from benchmark.loading.transforms import PairedTransform
from benchmark.run.data import RunData
from benchmark.training.distributed import SINGLE, Group
from benchmark.training.loop import Streams

CPU = torch.device("cpu")


def loader_options(device: torch.device, num_workers: int) -> dict[str, Any]:
    """DataLoader options for ``device``: pinned batches for CUDA, workers kept across epochs.

    Pinned (page-locked) memory lets the copy to the GPU run asynchronously; persistent workers
    skip re-spawning ``num_workers`` processes (and refilling their decode caches) every epoch.
    """
    return {
        "num_workers": num_workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": num_workers > 0,
    }


def make_streams(
    cfg: RunConfig,
    data: RunData,
    model,
    labels: list[int],
    seed: int,
    device: torch.device = CPU,
    group: Group = SINGLE,
) -> Streams:
    """The PK-batched ReID loader and, for methods that need it, the COCO parsing loader.

    Under torchrun each rank's samplers draw its share of the global batch (``group``).
    """
    size, t, d = (cfg.data.height, cfg.data.width), cfg.train, cfg.data
    transform = PairedTransform(
        d.flip, d.photometric, d.blackout if model.cfg.needs_part_labels else 0
    )
    reid = ReIDImages(
        data.train.train, size, labels, model.cfg.needs_part_labels, transform, cache=True
    )
    per_id = t.pk_epoch == "identities"
    sampler = PKSampler(
        labels, t.ids_per_batch, t.images_per_id, t.iters_per_epoch, seed, per_id, *_ranks(group)
    )
    options = loader_options(device, d.num_workers)
    streams = Streams(DataLoader(reid, batch_sampler=sampler, collate_fn=collate, **options))
    if model.cfg.needs_coco:
        instances = upright_instances(data.coco, d.coco_min_aspect)
        # official code: the COCO stream gets the ReID transforms, part blackout included
        coco = CocoParts(
            instances, size, PairedTransform(d.flip, d.photometric, d.blackout), cache=True
        )
        batches = RandomBatches(len(coco), t.coco_batch, len(sampler), seed, *_ranks(group))
        streams.coco = DataLoader(coco, batch_sampler=batches, collate_fn=collate, **options)
    return streams


def _ranks(group: Group) -> tuple[int, int]:
    return group.rank, group.world
