"""The synthetic pretraining task: a disjoint set of people, drawn in memory, and its training.

A stand-in for the paper's ImageNet initialisation (paper section 4.1): the trunk (Conv1-Conv5)
learns person-identity classification (global average pooling, one linear classifier, as an
ImageNet classifier) on holistic images of identities that no benchmark set contains,
optionally (``parts_weight`` > 0) together with dense 7-part body segmentation on the Conv5 grid
(a 1x1 convolution, cross-entropy), and optionally on random resized crops (``crop_p``: a
random window of the image stretched back to the input size, as an ImageNet
RandomResizedCrop). Only the trunk is kept; the heads are dropped. The benchmark's own
training set stays the only ReID data a method is trained on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from benchmark.loading.transforms import MEAN, STD
from benchmark.precision import autocast, resolve_precision
from reid_datasets.synthetic.cameras import make_camera
from reid_datasets.synthetic.people import Identity, sample_identities
from reid_datasets.synthetic.render import render_shot
from reid_methods.backbone import build_backbone

STREAM = 7  # seeds the pretraining draws apart from every benchmark set (set codes 1-6)


@dataclass(frozen=True)
class TrunkSpec:
    """What fixes the trunk's weights' shapes and behaviour: ResNet name, strides, input size."""

    backbone: str
    last_stride: int
    conv4_stride: int
    height: int
    width: int


@dataclass(frozen=True)
class PretrainSet:
    """The pretraining images in memory.

    Attributes:
        images: [M, H, W, 3] uint8 RGB.
        parts: [M, H, W] uint8 7-part label maps (0 background).
        labels: [M] identity index in [0, ids).
        heldout: [M] True for the images kept out of training (one per identity).
        people: the identities drawn.
    """

    images: Tensor
    parts: Tensor
    labels: Tensor
    heldout: Tensor
    people: list[Identity]


def draw_people(seed: int, ids: int, avoid: Sequence[Identity]) -> list[Identity]:
    """``ids`` people, each differing in >= 2 body groups from every other and from ``avoid``."""
    return sample_identities(np.random.default_rng([seed, STREAM, 0]), ids, avoid=avoid)


def render_set(
    people: list[Identity],
    images_per_id: int,
    cameras: int,
    seed: int,
    size: tuple[int, int],
    framed_p: float = 0.0,
) -> PretrainSet:
    """Holistic images of ``people`` from ``cameras`` cameras of their own (seeded by ``seed``);
    ``framed_p`` of them framed like detector boxes (``render.Framing``: loose and tight,
    off-centre, cut at the knees or the waist), as ImageNet's photos frame objects every way."""
    height, width = size
    cams = [
        make_camera(np.random.default_rng([seed, STREAM, 1, c]), height, width)
        for c in range(cameras)
    ]
    images = np.empty((len(people) * images_per_id, height, width, 3), dtype=np.uint8)
    parts = np.empty((len(people) * images_per_id, height, width), dtype=np.uint8)
    for i, ident in enumerate(people):
        for j in range(images_per_id):
            rng = np.random.default_rng([seed, STREAM, 2, i, j])
            cam = cams[int(rng.integers(cameras))]
            framed = framed_p > 0 and rng.random() < framed_p  # no draw without framing
            shot = render_shot(rng, ident, cam, size, "framed" if framed else "holistic")
            images[i * images_per_id + j], parts[i * images_per_id + j] = shot.image, shot.label
    labels = torch.arange(len(people)).repeat_interleave(images_per_id)
    heldout = torch.arange(len(labels)) % images_per_id == images_per_id - 1  # the last per id
    return PretrainSet(torch.from_numpy(images), torch.from_numpy(parts), labels, heldout, people)


def as_input(images: Tensor, flip: Tensor | None, channels_last: bool) -> Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] normalised floats, flipped where ``flip`` is True."""
    x = images.permute(0, 3, 1, 2).float().div_(255)  # [N, 3, H, W]
    if flip is not None:
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    x = (x - MEAN) / STD
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


NUM_PARTS = 7  # the generator's part codes 1-7 (0 background)


class PretrainNet(nn.Module):
    """Trunk + Conv5; identity logits by global average pooling and one linear layer, and
    per-cell 8-class part logits (background + 7 parts) by a 1x1 convolution on Conv5."""

    def __init__(self, spec: TrunkSpec, num_classes: int) -> None:
        super().__init__()
        net = build_backbone(spec.backbone, spec.last_stride, None, spec.conv4_stride)
        self.trunk, self.conv5 = net.trunk, net.conv5
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(net.dim, num_classes)
        self.parts = nn.Conv2d(net.dim, NUM_PARTS + 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        fmap = self.conv5(self.trunk(x))  # [N, D, h, w]
        logits = self.classifier(self.pool(fmap).flatten(1))  # [N, C]
        return logits, self.parts(fmap)  # [N, 8, h, w] part logits


def trunk_state(trunk: nn.Module, conv5: nn.Module) -> dict[str, Tensor]:
    """The trunk and Conv5 weights in torchvision's names (``layer4.*`` is Conv5)."""
    state = {k: v.detach().clone() for k, v in trunk.state_dict().items()}
    state |= {f"layer4.{k}": v.detach().clone() for k, v in conv5.state_dict().items()}
    return state


def resized_crops(
    x: Tensor,
    parts: Tensor,
    crop_p: float,
    min_height: float,
    gen: torch.Generator,
    min_width: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """With probability ``crop_p`` per image, a random window of at least ``min_height`` of the
    height and ``min_width`` of the width, stretched back to the full size (bilinear image,
    nearest labels): an ImageNet RandomResizedCrop. ``min_width`` 1 keeps the full width (a
    vertical band); below 1 the person is zoomed across as well, as a tight crop zooms it.

    Args:
        x: [N, 3, H, W] float images.
        parts: [N, H, W] part codes.

    Returns:
        The images and float labels [N, H, W] (codes), cropped where drawn.
    """
    n = len(x)
    crop = torch.rand(n, generator=gen) < crop_p
    scale_y = torch.where(crop, min_height + (1 - min_height) * torch.rand(n, generator=gen), 1.0)
    shift_y = (1 - scale_y) * (2 * torch.rand(n, generator=gen) - 1)  # window inside the image
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 1, 2] = 1.0, scale_y, shift_y
    if min_width < 1.0:  # drawn only then, so a trunk of vertical bands keeps its draws
        scale_x = torch.where(crop, min_width + (1 - min_width) * torch.rand(n, generator=gen), 1.0)
        theta[:, 0, 0] = scale_x
        theta[:, 0, 2] = (1 - scale_x) * (2 * torch.rand(n, generator=gen) - 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    lab = F.grid_sample(parts[:, None].float(), grid, mode="nearest", align_corners=False)
    return x, lab[:, 0]


def grid_labels(parts: Tensor, size: tuple[int, int]) -> Tensor:
    """Part codes [N, H, W] -> the code covering most of each Conv5 cell [N, h, w] (long)."""
    onehot = F.one_hot(parts.long(), NUM_PARTS + 1).permute(0, 3, 1, 2).float()
    return F.adaptive_avg_pool2d(onehot, size).argmax(1)


def lr_factor(step: int, warm: int, total: int) -> float:
    """Linear warm-up over ``warm`` steps, then a cosine decay to 0 at ``total``."""
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(total - warm, 1)))


def fit_trunk(data: PretrainSet, spec: TrunkSpec, pcfg, device: torch.device, progress: bool):
    """Train the classifier on the non-held-out images; returns (trunk state, stats).

    ``pcfg`` is a ``benchmark.training.pretrain.PretrainConfig`` (epochs, batch_size, lr, ...).
    Deterministic on one machine from ``pcfg.seed`` (bf16 kernels differ between CPUs).
    """
    torch.manual_seed(pcfg.seed)
    model = PretrainNet(spec, len(data.people)).to(device)
    if pcfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    precision = resolve_precision(pcfg.amp, device)
    train = torch.nonzero(~data.heldout).flatten()
    per_epoch = len(train) // pcfg.batch_size
    total = pcfg.epochs * per_epoch
    opt = torch.optim.SGD(
        model.parameters(), lr=pcfg.lr, momentum=0.9, weight_decay=pcfg.weight_decay, nesterov=True
    )
    warm = pcfg.warmup_epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, warm, total))
    gen = torch.Generator().manual_seed(pcfg.seed)
    start, losses = time.perf_counter(), []
    model.train()
    with tqdm(total=total, desc="pretraining trunk", unit="step", disable=not progress) as bar:
        for _ in range(pcfg.epochs):
            order = train[torch.randperm(len(train), generator=gen)]
            for b in range(per_epoch):
                idx = order[b * pcfg.batch_size : (b + 1) * pcfg.batch_size]
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x = as_input(data.images[idx], flip, channels_last=False)
                parts = torch.where(flip[:, None, None], data.parts[idx].flip(-1), data.parts[idx])
                if pcfg.crop_p > 0:
                    x, parts = resized_crops(
                        x, parts, pcfg.crop_p, pcfg.crop_min_height, gen, pcfg.crop_min_width
                    )
                if pcfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast(precision, device):
                    logits, part_logits = model(x.to(device))  # [N, ids], [N, 8, h, w]
                loss = F.cross_entropy(
                    logits.float(), data.labels[idx].to(device), label_smoothing=0.1
                )
                if pcfg.parts_weight > 0:
                    target = grid_labels(parts, tuple(part_logits.shape[-2:])).to(device)
                    loss = loss + pcfg.parts_weight * F.cross_entropy(part_logits.float(), target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
                bar.update()
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    stats = {
        "steps": total,
        "train_s": round(time.perf_counter() - start, 1),
        "precision": precision,
        "final_loss": float(np.mean(losses[-max(1, per_epoch // 4) :])) if losses else None,
        "heldout_accuracy": heldout_accuracy(model, data, pcfg, device, precision),
    }
    model = model.cpu()
    return trunk_state(model.trunk, model.conv5), stats


@torch.no_grad()
def heldout_accuracy(model: nn.Module, data: PretrainSet, pcfg, device, precision: str) -> float:
    """Identity accuracy on the held-out image of each identity (a sanity check of the task)."""
    model.eval()
    idx = torch.nonzero(data.heldout).flatten()
    correct = 0
    for chunk in idx.split(256):
        x = as_input(data.images[chunk], None, pcfg.channels_last).to(device)
        with autocast(precision, device):
            pred = model(x)[0].argmax(1).cpu()  # [N]
        correct += int((pred == data.labels[chunk]).sum())
    return correct / max(len(idx), 1)
