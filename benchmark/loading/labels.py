"""Part labels: the one reader of 7-part label PNGs, and the confusion matrix and IoU of two
label maps (pseudo labels against the truth, a parser's prediction against its target)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import DataError
from reid_datasets.parts import PART7_NAMES, part7_to_4

NUM_CLASSES = len(PART7_NAMES)  # background + 7 parts


def read_label_map(path: Path) -> np.ndarray:
    """A 7-part label PNG as [H, W] uint8; anything else is a one-line DataError."""
    try:
        with Image.open(path) as im:
            label = np.asarray(im)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read part label {path}: {e}; regenerate the label tree") from e
    if label.ndim != 2 or label.max(initial=0) >= NUM_CLASSES:
        raise DataError(
            f"part label {path} is not a single-channel map of codes 0-7; regenerate it"
        )
    return label


def read_label(path: Path, image_path: Path, size: tuple[int, int]) -> np.ndarray:
    """A 7-part label of ``image_path``, checked, fused to 4 parts, resized (nearest) to
    ``size`` = (H, W); [H, W] uint8."""
    label = read_label_map(path)
    try:
        with Image.open(image_path) as im:
            expected = im.size
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read image {image_path}: {e}; replace or delete the file") from e
    if (label.shape[1], label.shape[0]) != expected:
        raise DataError(
            f"part label {path} is not a single-channel {expected[0]}x{expected[1]} map of "
            "codes 0-7; regenerate the label tree"
        )
    fused = Image.fromarray(part7_to_4(label))
    return np.asarray(fused.resize((size[1], size[0]), Image.Resampling.NEAREST))


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """[C, C] pixel counts of two label maps of any equal shape (rows truth, columns pred)."""
    index = truth.astype(np.int64).ravel() * classes + pred.astype(np.int64).ravel()
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def iou_summary(conf: np.ndarray) -> dict[str, float]:
    """Pixel accuracy and mean IoU over the parts (not background) present in truth or pred."""
    tp = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - tp
    parts = union[1:] > 0
    miou = float((tp[1:][parts] / union[1:][parts]).mean()) if parts.any() else 0.0
    return {"pixel_acc": float(tp.sum() / max(conf.sum(), 1)), "miou": miou}
