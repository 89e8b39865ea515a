"""Where a run's data lie: the synthetic default's folder (generated on demand), a user's data
root, the part-label tree, and a test set loaded with its loader options."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError, DataError, folder_problem
from reid_datasets.base import DATASETS, Splits, dataset_info, load_dataset
from reid_datasets.label_trees import find_label_dir
from reid_datasets.synthetic import generate, synth_config

log = logging.getLogger(__name__)


# how a generator setting changed from the profile's shows in the data folder's name
SHORT_NAMES = {
    "occlusion": "occ",
    "framed_p": "framed",
    "frame_cut_p": "cut",
    "frame_cut_tight_p": "tight",
    "test_cameras": "cams-",
    "sets": "",  # another protocol's stand-in: data/synthetic-cpu-occluded_duke+coco_densepose
}


def synthetic_root(
    synth_profile: str, overrides: Mapping[str, Any] | None = None, tag: str = ""
) -> Path:
    """Where the synthetic data of a size lives: one folder per size, generator settings that
    differ from the size's (``overrides``, e.g. occlusion) and purpose (``tag``)."""
    parts = [f"-{SHORT_NAMES.get(k, k)}{_text(v)}" for k, v in sorted((overrides or {}).items())]
    return Path("data") / f"synthetic-{synth_profile}{''.join(parts)}{tag}"


def _text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "+".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def ensure_synthetic(synth_profile: str, root: Path, **overrides: Any) -> None:
    """Generate synthetic data under ``root`` unless it is already there and current."""
    if generate(root, synth_config(synth_profile, **overrides)):
        log.info("generated synthetic data under %s", root)


def data_root(
    root: str | None, synth_profile: str, overrides: Mapping[str, Any] | None = None
) -> tuple[Path, str]:
    """The data root and its kind ("synthetic" or "real"); ``root`` None draws the default
    synthetic data of ``synth_profile`` with the generator ``overrides``."""
    if root is None:
        path = synthetic_root(synth_profile, overrides)
        ensure_synthetic(synth_profile, path, **(overrides or {}))
    else:
        path = Path(root)
        if problem := folder_problem(path):
            raise DataError(
                f"data root {path} {problem}; pass --root DIR with the unpacked data sets"
            )
    return path, "synthetic" if (path / "synthetic.json").exists() else "real"


def resolve_labels(choice: str, root: Path, kind: str, train_set: str = "market1501") -> str:
    """ "ps" or "gt": which part-label tree of the training set HPNet-style methods train on."""
    if choice not in ("auto", "ps", "gt"):
        raise ConfigError(f"data.labels must be auto, ps or gt, got {choice!r}")
    if "labels" not in inspect.signature(DATASETS.get(train_set)).parameters:
        raise DataError(
            f"{train_set} has no part-label trees the suite reads; train methods without part "
            "labels on it (baseline, pcb) or train the part methods on a set that has them "
            "(Market-1501, Occluded-Duke, P-DukeMTMC-reID, MSMT17)"
        )
    if choice != "auto":
        return choice
    layout = dataset_info(train_set).layout
    found = layout.find(root) if layout is not None else None
    canonical = layout.candidates[0] if layout is not None else train_set
    if found is not None and find_label_dir(found, "ps", canonical) is not None:
        return "ps"
    if kind == "synthetic":
        return "gt"
    raise DataError(
        f"no {canonical}_ps_label tree under {root}; make pseudo labels with "
        "'python -m benchmark parse label' or train a method without part labels"
    )


def load_test_set(name: str, root: Path, options: dict[str, Any] | None = None) -> Splits:
    """Test set ``name`` under ``root``, with the loader ``options`` it takes."""
    try:
        return load_dataset(name, root, **(options or {}))
    except DataError as e:  # a test set joins by default: say how to leave it out
        raise DataError(f"{e}; or choose the test sets: --set eval.datasets='[...]'") from e
