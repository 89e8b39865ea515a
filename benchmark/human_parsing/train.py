"""Train the part parser on DensePose-COCO crops: fixed steps, log rows, checkpoints, resume."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from benchmark.atomic import write_csv_atomic, write_json_atomic
from benchmark.errors import DataError, NonFiniteError
from benchmark.human_parsing.config import ParseConfig
from benchmark.human_parsing.model import NUM_CLASSES, PartParser
from benchmark.loading.data import RandomBatches, to_tensor
from benchmark.loading.labels import confusion_matrix, iou_summary
from benchmark.loading.transforms import PairedTransform, normalise
from benchmark.provenance import seed_everything
from benchmark.training.checkpoint import load_checkpoint, save_checkpoint
from reid_datasets.coco_densepose import PixelBox, box_edges, clip_box, instance_part_map

log = logging.getLogger(__name__)


class PartCrops(Dataset):
    """DensePose-COCO person crops with their 7-part maps (unlike ``CocoParts``, not fused to 4).

    Items are ``(image [3, H, W] normalised, labels [H, W] int64 in 0-7)``. With ``zoom_out``
    > 0 each crop takes a random amount of scene around the person box and is widened towards
    the input's aspect, so crops are framed like ReID detections (a person with margins), not
    squashed tight boxes. The draws use torch's global generator, which checkpoints save.

    Args:
        instances: CocoInstances of ``load_dataset("coco_densepose", root)``.
        size: (H, W) the crops and maps are resized to (bilinear / nearest).
        transform: paired augmentation of image and labels.
        zoom_out: the most extra context per side, as a fraction of the box (0 = tight box).
        cache: keep decoded images and part maps in memory after their first use.
    """

    def __init__(
        self,
        instances: Sequence,
        size: tuple[int, int],
        transform: PairedTransform,
        zoom_out: float = 0.0,
        cache: bool = False,
    ) -> None:
        self.instances = list(instances)
        self.size = size
        self.transform = transform
        self.zoom_out = zoom_out
        self.cache: dict | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.instances)

    def load(self, i: int) -> tuple[Image.Image, np.ndarray, PixelBox]:
        """The whole RGB image, the 7-part map [h, w] of the clipped box, and that box."""
        if self.cache is not None and i in self.cache:
            part, box = self.cache[i]
            return self.cache[self.instances[i].image_path], part, box
        inst = self.instances[i]
        image = self.cache.get(inst.image_path) if self.cache is not None else None
        if image is None:
            with Image.open(inst.image_path) as im:
                image = im.convert("RGB")
        box = clip_box(box_edges(inst.bbox), image.size)
        part = instance_part_map(inst, image.size)
        if self.cache is not None:  # images by path: instances of one image share it
            self.cache[inst.image_path], self.cache[i] = image, (part, box)
        return image, part, box

    def window(self, box: PixelBox, image_size: tuple[int, int]) -> PixelBox:
        """The crop window: the box grown by random margins, widened to the input's aspect."""
        w, h = box.right - box.left, box.bottom - box.top
        grow = 1 + self.zoom_out * torch.rand(3)
        wh = (
            h * float(grow[0]),
            max(w * float(grow[1]), h * float(grow[0]) * self.size[1] / self.size[0]),
        )
        shift = torch.rand(2)  # where the box sits inside the window
        top = box.top - (wh[0] - h) * float(shift[0])
        left = box.left - (wh[1] - w) * float(shift[1])
        return clip_box(
            PixelBox(round(left), round(top), round(left + wh[1]), round(top + wh[0])), image_size
        )

    def crop(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image [H, W, 3] uint8 and 7-part map [H, W] uint8 of instance ``i`` (random window)."""
        image, part, box = self.load(i)
        win = self.window(box, image.size) if self.zoom_out > 0 else box
        label = np.zeros((win.bottom - win.top, win.right - win.left), dtype=np.uint8)
        label_img = Image.fromarray(label)
        label_img.paste(Image.fromarray(part), (box.left - win.left, box.top - win.top))
        h, w = self.size
        rgb = image.crop((win.left, win.top, win.right, win.bottom)).resize(
            (w, h), Image.Resampling.BILINEAR
        )
        return np.asarray(rgb), np.asarray(label_img.resize((w, h), Image.Resampling.NEAREST))

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image, label = self.crop(i)
        x, y = self.transform(to_tensor(image.copy()), torch.from_numpy(label.copy()))
        return normalise(x), y.long()


def build_loader(instances: Sequence, cfg: ParseConfig) -> DataLoader:
    """Random batches of ``cfg.batch_size`` crops, ``cfg.chunk`` per epoch, seeded per chunk."""
    if not instances:
        raise DataError(
            "the DensePose-COCO set is empty; check coco/annotations under --root "
            "(python -m benchmark synth --root DIR writes a synthetic one)"
        )
    transform = PairedTransform(flip=cfg.flip, photometric=cfg.photometric)
    data = PartCrops(instances, (cfg.height, cfg.width), transform, cfg.zoom_out, cfg.cache)
    if cfg.cache:  # decode once here; worker processes inherit the cache when they fork
        for i in tqdm(range(len(data)), desc="decoding DensePose crops", leave=False):
            data.load(i)
    sampler = RandomBatches(len(data), cfg.batch_size, cfg.chunk, cfg.seed)
    return DataLoader(data, batch_sampler=sampler, num_workers=cfg.workers)


def build_optimizer(model: PartParser, cfg: ParseConfig):
    """AdamW with linear warm-up then poly decay (DANet/DeepLab's schedule), stepped per step."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
        return warm * (1.0 - min(step, cfg.iters - 1) / cfg.iters) ** 0.9

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def chunk_bounds(cfg: ParseConfig) -> list[tuple[int, int]]:
    """[start, end) steps of each chunk; the last one may be shorter."""
    return [(s, min(s + cfg.chunk, cfg.iters)) for s in range(0, cfg.iters, cfg.chunk)]


def train_parser(
    cfg: ParseConfig, instances: Sequence, run_dir: Path, device: torch.device
) -> pd.DataFrame:
    """Train a PartParser, resuming from ``run_dir/checkpoint.pt`` if it exists.

    Writes ``checkpoint.pt`` (weights + config, every ``cfg.chunk`` steps) and ``train_log.csv``
    (one row per chunk: step, lr, loss, pixel accuracy, mean IoU of the training batches).

    Returns:
        The training log.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    model = PartParser(cfg.backbone, cfg.attention, cfg.pretrained).to(device)
    opt, sched = build_optimizer(model, cfg)
    loader = build_loader(instances, cfg)
    ckpt, log_path = run_dir / "checkpoint.pt", run_dir / "train_log.csv"
    chunks, done = chunk_bounds(cfg), 0
    rows: list[dict[str, Any]] = []
    if ckpt.exists():
        done = load_checkpoint(ckpt, model, opt, sched)["epoch"]
        rows = pd.read_csv(log_path).to_dict("records")[:done] if log_path.exists() else []
        log.info("resuming %s after chunk %d of %d", run_dir.name, done, len(chunks))
    extra = {"parse_config": cfg.to_dict()}
    for index in range(done, len(chunks)):
        start, end = chunks[index]
        loader.batch_sampler.set_epoch(index)  # type: ignore[union-attr]
        stats = train_chunk(model, loader, opt, sched, device, start, end - start)
        rows.append({"step": end, "lr": opt.param_groups[0]["lr"], **stats})
        save_checkpoint(ckpt, model, opt, sched, index + 1, extra=extra)
        write_csv_atomic(pd.DataFrame(rows), log_path)
        log.info("step %d/%d: loss %.4f, mIoU %.3f", end, cfg.iters, stats["loss"], stats["miou"])
    return pd.DataFrame(rows)


def train_chunk(model, loader: DataLoader, opt, sched, device, start: int, steps: int) -> dict:
    """``steps`` optimiser steps; returns the mean loss and the chunk's pixel accuracy and mIoU."""
    model.train()
    total, conf = 0.0, np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    bar = tqdm(loader, total=steps, desc=f"parse steps {start + 1}-{start + steps}", leave=False)
    for step, (images, labels) in zip(range(start, start + steps), bar, strict=False):
        images, labels = images.to(device), labels.to(device)
        logits = model(images)  # [N, 8, H, W]
        loss = F.cross_entropy(logits, labels)
        if not math.isfinite(float(loss.detach())):
            raise NonFiniteError(
                f"parsing loss became non-finite at step {step + 1}; the last checkpoint is kept: "
                "lower lr (--set lr=...) and continue with --resume RUN_DIR"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach())
        conf += confusion_matrix(labels.cpu().numpy(), logits.argmax(1).cpu().numpy())
        bar.set_postfix(loss=f"{total / (step - start + 1):.3f}")
    return {"loss": total / steps, **iou_summary(conf)}


def write_run_files(run_dir: Path, cfg: ParseConfig, root: Path, env: dict) -> None:
    """``config.json`` (settings + data root) and ``env.json`` of a parser run."""
    write_json_atomic({**cfg.to_dict(), "root": str(root)}, run_dir / "config.json")
    write_json_atomic(env, run_dir / "env.json")
