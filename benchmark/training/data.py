"""Samples -> torch datasets, the identity (PK) sampler, paired image + part-label transforms."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from benchmark.errors import DataError
from benchmark.training.transforms import PairedTransform, normalise
from datasets.base import Sample
from datasets.parts import part7_to_4


def read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Decode ``path`` as RGB resized to ``size`` = (H, W); [H, W, 3] uint8."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
            return np.array(im)  # a writable copy for torch.from_numpy
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}; replace or delete the file") from e


def read_label(path: Path, image_path: Path, size: tuple[int, int]) -> np.ndarray:
    """Read a 7-part label PNG, check it, fuse to 4 parts, resize (nearest); [H, W] uint8."""
    try:
        with Image.open(path) as im:
            label = np.asarray(im)
        with Image.open(image_path) as im:
            expected = im.size
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read part label {path}: {e}; regenerate the label tree") from e
    if label.ndim != 2 or (label.shape[1], label.shape[0]) != expected or label.max() > 7:
        raise DataError(
            f"part label {path} is not a single-channel {expected[0]}x{expected[1]} map of "
            "codes 0-7; regenerate the label tree"
        )
    fused = Image.fromarray(part7_to_4(label))
    return np.asarray(fused.resize((size[1], size[0]), Image.NEAREST))


def to_tensor(image: np.ndarray) -> Tensor:
    """[H, W, 3] uint8 -> [3, H, W] float in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0


class ReIDImages(Dataset):
    """Images (and 4-part labels) of a list of samples, with paired training transforms.

    Items are ``(image [3, H, W] normalised, label index, part labels [H, W] or empty, index)``.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        size: tuple[int, int],
        labels: Sequence[int] | None = None,
        with_parts: bool = False,
        transform: PairedTransform | None = None,
        cache: bool = False,
    ) -> None:
        self.samples = list(samples)
        self.size = size
        self.labels = list(labels) if labels is not None else [s.pid for s in self.samples]
        self.with_parts = with_parts
        self.transform = transform or PairedTransform()
        # Training revisits every image each epoch; small decoded images (128x64: 25 KB) are
        # kept so only the first epoch pays for JPEG/PNG decoding (per loader process).
        self.cache: dict[int, tuple[np.ndarray, np.ndarray | None]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def decoded(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The resized image [H, W, 3] and 4-part labels [H, W] (None without parts) of item i."""
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        s = self.samples[i]
        parts = None
        if self.with_parts:
            if s.label_path is None:
                raise DataError(
                    f"{s.path} has no part label; train with part labels (--set data.labels=gt|ps)"
                )
            parts = read_label(s.label_path, s.path, self.size)
        item = (read_image(s.path, self.size), parts)
        if self.cache is not None:
            self.cache[i] = item
        return item

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor, int]:
        image, parts = self.decoded(i)
        labels = (
            torch.empty(0, dtype=torch.uint8) if parts is None else torch.from_numpy(parts.copy())
        )
        image, labels = self.transform(to_tensor(image.copy()), labels)
        return normalise(image), self.labels[i], labels, i


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
    the count. Each epoch draws from a generator seeded by (seed, epoch), so an epoch is the
    same whether the run was interrupted before it or not.
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        iters: int | None,
        seed: int,
        per_identity: bool = False,
    ) -> None:
        self.by_id: dict[int, np.ndarray] = {}
        labels_arr = np.asarray(labels)
        for pid in np.unique(labels_arr):
            self.by_id[int(pid)] = np.flatnonzero(labels_arr == pid)
        require_identities(len(self.by_id), p)
        self.p, self.k, self.seed, self.epoch = p, k, seed, 0
        self.per_identity = per_identity
        natural = len(self.by_id) // p if per_identity else len(labels_arr) // (p * k)
        self.iters = iters or max(1, natural)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.iters

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        ids = np.array(sorted(self.by_id))
        per_pass = len(ids) // self.p  # per_identity: batches per permutation of the identities
        order = ids
        for b in range(self.iters):
            if not self.per_identity:
                chosen = rng.choice(ids, self.p, replace=False)
            else:  # consecutive identities of a permutation, a new one when it is used up
                if b % per_pass == 0:
                    order = rng.permutation(ids)
                chosen = order[(b % per_pass) * self.p : (b % per_pass + 1) * self.p]
            batch = []
            for pid in chosen:
                pool = self.by_id[int(pid)]
                batch += rng.choice(pool, self.k, replace=len(pool) < self.k).tolist()
            yield batch


def collate(items: list[tuple[Tensor, int, Tensor, int]]) -> dict[str, Tensor]:
    """Stack dataset items into a dict of tensors (parts None when absent)."""
    images, labels, parts, index = zip(*items, strict=True)
    out = {
        "images": torch.stack(images),
        "labels": torch.tensor(labels),
        "index": torch.tensor(index),
    }
    out["parts"] = torch.stack(parts) if parts[0].numel() else None
    return out


def upright_instances(instances: Sequence, min_aspect: float) -> list:
    """COCO person boxes taller than ``min_aspect`` x their width.

    The official HPNet code keeps only such boxes, so resizing a crop to the ReID shape
    does not distort the body.
    """
    kept = [i for i in instances if i.bbox[3] > min_aspect * i.bbox[2]]
    if instances and not kept:
        raise DataError(
            f"no DensePose-COCO box is taller than {min_aspect} x its width; "
            "lower data.coco_min_aspect"
        )
    return kept


class CocoParts(Dataset):
    """DensePose-COCO person crops with their 4-part labels, for the COCO parsing stream."""

    def __init__(
        self,
        instances: Sequence,
        size: tuple[int, int],
        transform: PairedTransform | None = None,
        cache: bool = False,
    ) -> None:
        self.instances = list(instances)
        self.size = size
        self.transform = transform or PairedTransform()
        # Decoding 14 RLE masks and the whole COCO image costs more than the crop is worth.
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.instances)

    def decoded(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The person crop [H, W, 3] and its 4-part labels [H, W], resized to ``size``."""
        from datasets.coco_densepose import crop_instance

        if self.cache is not None and i in self.cache:
            return self.cache[i]
        crop, part7 = crop_instance(self.instances[i])
        h, w = self.size
        image = np.array(crop.convert("RGB").resize((w, h), Image.BILINEAR))
        label = np.array(Image.fromarray(part7_to_4(part7)).resize((w, h), Image.NEAREST))
        if self.cache is not None:
            self.cache[i] = (image, label)
        return image, label

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor, int]:
        image, label = self.decoded(i)
        image, parts = self.transform(to_tensor(image.copy()), torch.from_numpy(label.copy()))
        return normalise(image), -1, parts, i


class RandomBatches:
    """``iters`` random batches of ``size`` indices per epoch, seeded by (seed, epoch)."""

    def __init__(self, n: int, size: int, iters: int, seed: int) -> None:
        if n == 0:
            raise DataError(
                "the COCO parsing set is empty; check coco/annotations under the data root"
            )
        self.n, self.size, self.iters, self.seed, self.epoch = n, size, iters, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.iters

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        for _ in range(self.iters):
            yield rng.choice(self.n, self.size, replace=self.n < self.size).tolist()
