"""Logic of `datasets export-labels`: DensePose-COCO people as part-label PNGs at their box size."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmark.atomic import atomic_path
from benchmark.errors import ConfigError, DataError
from reid_datasets import coco_densepose
from reid_datasets.base import load_dataset
from reid_datasets.check_labels import header_size

logger = logging.getLogger(__name__)


def _write_png(path: Path, label: np.ndarray) -> None:
    """Write a single-channel PNG atomically (``benchmark.atomic.atomic_path``)."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8)).save(tmp, format="PNG")


def export_labels(
    root: Path, out: Path, dataset: str = "coco_densepose", splits: Sequence[str] = ("train",)
) -> int:
    """Write ``OUT/<annotation id>.png``: each DensePose person's 7-part map at its box size.

    Args:
        root: the data root holding ``coco/``.
        out: output folder (created).
        dataset: only "coco_densepose" has part annotations to export.
        splits: the annotation files to read ("train", "val", "minival").

    Returns:
        The number of label PNGs written.
    """
    if dataset != coco_densepose.NAME:
        raise ConfigError(
            f"export-labels reads part annotations of coco_densepose only, not {dataset!r}"
        )
    instances = load_dataset(dataset, Path(root), splits=tuple(splits)).train
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sizes: dict[Path, tuple[int, int]] = {}
    for instance in tqdm(instances, desc="export-labels", unit="person", disable=None):
        if instance.image_path not in sizes:
            size = header_size(instance.image_path)
            if size is None:
                raise DataError(f"cannot read image {instance.image_path}; re-extract it")
            sizes[instance.image_path] = size
        label = coco_densepose.instance_part_map(instance, sizes[instance.image_path])
        _write_png(out / f"{instance.ann_id}.png", label)
    logger.info("wrote %d part-label PNGs to %s", len(instances), out)
    return len(instances)
