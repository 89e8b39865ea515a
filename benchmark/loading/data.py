"""Samples -> torch datasets, the identity (PK) sampler, paired image + part-label transforms."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from benchmark.errors import DataError
from benchmark.loading.labels import read_label
from benchmark.loading.samplers import (  # noqa: F401 - their old home
    PKSampler,
    RandomBatches,
    require_identities,
)
from benchmark.loading.transforms import PairedTransform, normalise
from reid_datasets.base import Sample
from reid_datasets.coco_densepose import crop_instance
from reid_datasets.parts import part7_to_4


def read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Decode ``path`` as RGB resized to ``size`` = (H, W); [H, W, 3] uint8."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.array(im)  # a writable copy for torch.from_numpy
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}; replace or delete the file") from e


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
        rgb, parts = self.decoded(i)
        labels = (
            torch.empty(0, dtype=torch.uint8) if parts is None else torch.from_numpy(parts.copy())
        )
        image, labels = self.transform(to_tensor(rgb.copy()), labels)
        return normalise(image), self.labels[i], labels, i


class Collated(TypedDict):
    """A batch as ``collate`` stacks it."""

    images: Tensor  # [N, 3, H, W]
    labels: Tensor  # [N]
    index: Tensor  # [N]
    parts: Tensor | None  # [N, H, W]; None when the items have no part labels


def collate(items: list[tuple[Tensor, int, Tensor, int]]) -> Collated:
    """Stack dataset items into a dict of tensors (parts None when absent)."""
    images, labels, parts, index = zip(*items, strict=True)
    return {
        "images": torch.stack(images),
        "labels": torch.tensor(labels),
        "index": torch.tensor(index),
        "parts": torch.stack(parts) if parts[0].numel() else None,
    }


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

        if self.cache is not None and i in self.cache:
            return self.cache[i]
        crop, part7 = crop_instance(self.instances[i])
        h, w = self.size
        image = np.array(crop.convert("RGB").resize((w, h), Image.Resampling.BILINEAR))
        label = np.array(
            Image.fromarray(part7_to_4(part7)).resize((w, h), Image.Resampling.NEAREST)
        )
        if self.cache is not None:
            self.cache[i] = (image, label)
        return image, label

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor, int]:
        rgb, label = self.decoded(i)
        image, parts = self.transform(to_tensor(rgb.copy()), torch.from_numpy(label.copy()))
        return normalise(image), -1, parts, i
