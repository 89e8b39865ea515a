"""Dataset plug-ins: importing this package registers the built-in loaders."""

from __future__ import annotations

from reid_datasets import (  # noqa: F401  (imported to register the built-in loaders)
    coco_densepose,
    market1501,
    msmt17,
    occluded_duke,
    occluded_reid,
    p_dukemtmc,
    partial_ilids,
    partial_reid,
)
from reid_datasets.base import CocoInstance, Sample, Splits, list_datasets, load_dataset

__all__ = ["CocoInstance", "Sample", "Splits", "list_datasets", "load_dataset"]
