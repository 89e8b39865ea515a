"""One run on several devices: torchrun's ranks, the process group, DDP, rank-0-only writes.

``torchrun --nproc_per_node N -m benchmark run ...`` starts N copies of the run. Each finds its
rank in torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``: read by the CLI and
handed to ``group_from_env``), joins one process group (NCCL on CUDA, gloo on the CPU) and
trains the same model wrapped in DistributedDataParallel. The configuration describes the
global batch: each of the N ranks takes P / N identities x K images and coco_batch / N COCO
crops (``benchmark.loading.data`` shards both), so a run on N devices follows the recipe of a
run on one and batch-hard mining stays inside a rank (as fast-reid does it). Rank 0 alone
generates data, writes checkpoints, logs and result rows and evaluates; the other ranks wait
for it at barriers. A plain process is rank 0 of 1 and nothing here changes what it does.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from benchmark.errors import ConfigError, UserError
from benchmark.provenance import pick_device
from reid_methods.base import Method

log = logging.getLogger(__name__)

T = TypeVar("T")
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
WAIT = datetime.timedelta(hours=3)


class Local:
    """A training step's view of the model in one process: the model itself."""

    def __init__(self, model: Method, main: bool = True) -> None:
        self.model = model
        self.main = main  # whether this process shows progress (rank 0)

    def reid(self, images: Tensor) -> Any:
        """The ReID forward (an ``Output``)."""
        return self.model(images)

    def coco(self, images: Tensor) -> Tensor:
        """The COCO parsing forward (masks; no BN necks)."""
        return self.model.parse(images)

    def accumulate(self) -> contextlib.AbstractContextManager:
        """Context of a backward whose gradients are summed with the next one's, unreduced."""
        return contextlib.nullcontext()


class Steps(nn.Module):
    """A method's two training forwards behind one ``forward``, so DDP sees the COCO one too."""

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def forward(self, images: Tensor, coco: bool = False) -> Any:
        return self.method.parse(images) if coco else self.method(images)


class Replicated(Local):
    """The model behind DistributedDataParallel: gradients averaged over the ranks.

    A step with a COCO batch runs the ReID backward under ``no_sync`` and reduces the summed
    gradients of both backwards once, after the COCO one (eq. 10: one step on their sum).
    ``find_unused_parameters``: the COCO forward leaves the BN necks and classifiers out, the
    official recipe's parsing-only warm-up and ID/triplet alternation leave terms out, so the
    set of parameters with a gradient changes from step to step (a static graph cannot hold).
    """

    def __init__(self, model: Method, device: torch.device, main: bool) -> None:
        super().__init__(model, main)
        ids = [device.index] if device.type == "cuda" else None
        self.ddp = nn.parallel.DistributedDataParallel(
            Steps(model), device_ids=ids, find_unused_parameters=True
        )

    def reid(self, images: Tensor) -> Any:
        return self.ddp(images)

    def coco(self, images: Tensor) -> Tensor:
        return self.ddp(images, coco=True)

    def accumulate(self) -> contextlib.AbstractContextManager:
        return self.ddp.no_sync()


@dataclass(frozen=True)
class Group:
    """This process's place among the run's processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files, logs and evaluates (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def device_name(self, requested: str | None) -> str | None:
        """The device of this rank: ``cuda:LOCAL_RANK`` when CUDA is there, else ``requested``."""
        if not self.distributed:
            return requested
        if requested not in (None, "cuda") and requested != "cpu":
            raise UserError(
                f"--device {requested}: under torchrun each process takes cuda:LOCAL_RANK; "
                "pass --device cuda, --device cpu or leave it out"
            )
        cuda = requested != "cpu" and torch.cuda.is_available()
        return f"cuda:{self.local_rank}" if cuda else "cpu"

    def replicate(self, model: Method, device: torch.device, sync_bn: bool) -> Local:
        """The model as the training step calls it: itself, or behind DDP on every rank."""
        if not self.distributed:
            return Local(model)
        if sync_bn:
            check_sync_bn(device)
            nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place: the root is no BN layer
        return Replicated(model, device, self.main)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (any picklable value)."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, values: Mapping[str, float]) -> dict[str, float]:
        """Every value averaged over the ranks (the same keys on each, in the same order)."""
        if not self.distributed or not values:
            return dict(values)
        flat = torch.tensor([float(v) for v in values.values()], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            flat = flat.cuda()
        dist.all_reduce(flat)
        return {k: v / self.world for k, v in zip(values, flat.tolist(), strict=True)}

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it may write: data, caches); the others after it."""
        if not self.main:
            self.barrier()
        yield
        if self.main:
            self.barrier()


SINGLE = Group()


def group_from_env(environ: Mapping[str, str]) -> Group:
    """The rank, world size and local rank torchrun set, or rank 0 of 1 without them.

    Raises:
        UserError: torchrun's variables are malformed (one line).
    """
    if "WORLD_SIZE" not in environ or "RANK" not in environ:
        return SINGLE
    try:
        rank, world = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local = int(environ.get("LOCAL_RANK", environ["RANK"]))
    except ValueError as e:
        shown = {k: environ.get(k) for k in ENV_KEYS}
        raise UserError(f"torchrun's environment is malformed ({shown}): {e}") from e
    if not 0 <= rank < world:
        raise UserError(f"RANK={rank} is outside WORLD_SIZE={world}; start with torchrun")
    return Group(rank, world, local)


@contextlib.contextmanager
def process_group(group: Group, requested: str | None) -> Iterator[None]:
    """Join the run's process group (NCCL on CUDA, gloo on the CPU) for the block, then leave.

    Rank > 0 logs warnings only. On an error the process leaves without waiting: torchrun
    stops the other ranks when one fails.
    """
    if not group.distributed or dist.is_initialized():
        yield
        return

    device = pick_device(group.device_name(requested))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    # the other ranks wait at barriers while rank 0 generates data, pretrains a trunk or
    # evaluates every test set: longer than NCCL's default 10 minutes on real data
    dist.init_process_group(backend, rank=group.rank, world_size=group.world, timeout=WAIT)
    if not group.main:
        logging.getLogger().setLevel(logging.WARNING)
    log.info("rank 0 of %d processes (%s, %s)", group.world, backend, device)
    yield
    dist.barrier()
    dist.destroy_process_group()


def check_sync_bn(device: torch.device) -> None:
    """SyncBatchNorm synchronises over CUDA devices only (torch has no CPU kernel for it)."""
    if device.type != "cuda":
        raise ConfigError(
            f"train.sync_bn=true needs CUDA devices (SyncBatchNorm does not run on {device.type} "
            "with gloo); drop it on the CPU"
        )


def check_group(
    group: Group, device: torch.device, sync_bn: bool, ids_per_batch: int, coco_batch: int
) -> None:
    """Before any work: SyncBatchNorm has a device, the global batch splits over the ranks.

    Raises:
        ConfigError: one line naming the setting to change.
    """
    if not group.distributed:
        return
    if sync_bn:
        check_sync_bn(device)
    for key, value in (("train.ids_per_batch", ids_per_batch), ("train.coco_batch", coco_batch)):
        if value % group.world:
            raise ConfigError(
                f"{key}={value} does not split over {group.world} processes (each takes "
                f"{key} / {group.world}); set a multiple of {group.world}"
            )


def describe(group: Group, device: torch.device) -> dict[str, Any]:
    """What env.json records of the process group ({} in one process)."""
    if not group.distributed:
        return {}
    backend = "nccl" if device.type == "cuda" else "gloo"
    return {"world_size": group.world, "backend": backend}
