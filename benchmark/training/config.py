"""The training settings (``train.*`` of a run): the optimiser, batches, schedule, precision,
validation. ``benchmark.config`` composes them into a run's configuration."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = field(default=300, metadata={"min": 1})  # paper 4.1
    # None: images // batch size (one pass on average)
    iters_per_epoch: int | None = field(default=None, metadata={"min": 1})
    # paper 4.1: 16 identities (P) x 4 images (K); batch-hard triplets need K >= 2 (a positive)
    ids_per_batch: int = field(default=16, metadata={"min": 1})
    images_per_id: int = field(default=4, metadata={"min": 2})
    # an epoch of PK batches: "images" // (P x K) batches of random identities, or every
    # identity once ("identities" // P batches: the official code's RandomIdentitySampler)
    pk_epoch: str = field(default="images", metadata={"choices": ("images", "identities")})
    coco_batch: int = field(default=32, metadata={"min": 1})  # paper 4.1: 32 COCO images per step
    # paper 4.1: backbone rate; new layers x MethodConfig.new_layer_lr_mult
    lr: float = field(default=0.01, metadata={"gt": 0.0})
    momentum: float = field(default=0.9, metadata={"min": 0.0, "lt": 1.0})  # SGD diverges at 1
    weight_decay: float = field(default=5e-4, metadata={"min": 0.0})
    # paper 4.1: x0.1 after epoch 240 of 300
    decay_epochs: tuple[int, ...] = field(default=(240,), metadata={"min": 1})
    gamma: float = field(default=0.1, metadata={"gt": 0.0})
    # linear lr warm-up; helps small from-scratch models start
    warmup_epochs: int = field(default=0, metadata={"min": 0})
    # official code: 10 epochs of parsing losses only
    parsing_warmup_epochs: int = field(default=0, metadata={"min": 0})
    alternate_id_triplet: bool = False  # official code: ID and triplet losses on alternate steps
    # mixed precision: float16 on CUDA, bfloat16 on CPUs with native bf16, else float32
    # (benchmark.precision); the precision used is recorded in every result row
    amp: bool = False
    channels_last: bool = False  # memory format for convolutions (faster on GPUs and CPUs)
    # torchrun/DDP: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only); each
    # rank's batch is P / N identities, so plain BN sees 1/N of the batch; no effect in one process
    sync_bn: bool = False
    # fraction of the training identities held out as a validation split (seeded, recorded in
    # validation.json); per-epoch val_* columns of train_log.csv come from it, never from tests
    val_ids: float = field(default=0.0, metadata={"min": 0.0, "lt": 1.0})
    val_seed: int = field(default=0, metadata={"min": 0})  # which identities are held out
    val_every: int = field(default=1, metadata={"min": 1})  # validate every N epochs (and last)
