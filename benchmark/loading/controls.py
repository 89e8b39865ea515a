"""Whole-body controls: what an occluded or partial test set costs without its occlusion.

A set registered with ``control=True`` (Occluded-REID, Partial-REID, Partial-iLIDS) has a
whole-body gallery; its control scores those whole-body images against each other across the
set's own cameras, with the same protocol and tie rule (a query's same-identity images from
its own camera are excluded, as Market-1501's rule does). Then

- occlusion cost = control - occluded (the same people and cameras, only the occlusion differs);
- camera shift = holistic Market-1501 - control (the same kind of image, other cameras).

Real releases do not record the cameras of their whole-body images, so controls are drawn on
the synthetic data only (``synthetic_images.csv`` records every image's camera).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from benchmark.loading.synthetic_meta import read_meta
from reid_datasets.base import Splits, dataset_info

log = logging.getLogger(__name__)

CONTROL = "whole_body_control"  # the query_set of a control's rows


def whole_body_control(splits: Splits, root: Path, cameras: dict[str, int]) -> Splits | None:
    """The control of ``splits`` (its gallery against itself, each image at its own camera),
    or None when no identity has whole-body images from two cameras."""
    base = Path(root).resolve()
    samples = []
    for sample in splits.gallery:
        rel = Path(sample.path).resolve().relative_to(base).as_posix()
        samples.append(replace(sample, camid=cameras[rel]))
    seen: dict[int, set[int]] = {}
    for sample in samples:
        seen.setdefault(sample.pid, set()).add(sample.camid)
    if not any(len(cams) > 1 for cams in seen.values()):
        log.info("%s: no identity has whole-body images from two cameras; no control", splits.name)
        return None
    info = {"query_folder": CONTROL}
    return Splits(splits.name, query=tuple(samples), gallery=tuple(samples), info=info)


def controls(tests: dict[str, Splits], root: Path) -> dict[str, Splits]:
    """The whole-body control of every test set registered with one (synthetic data)."""
    wanted = {name: s for name, s in tests.items() if dataset_info(name).control}
    if not wanted:
        return {}
    cameras = {row["path"]: int(row["camera"]) for row in read_meta(root)}
    found = {name: whole_body_control(s, root, cameras) for name, s in wanted.items()}
    return {name: s for name, s in found.items() if s is not None}
