"""The dataset contract's data: Sample, CocoInstance and Splits (what every loader returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPLITS = ("train", "query", "gallery")


@dataclass(frozen=True)
class Sample:
    """One ReID image.

    Attributes:
        path: image file.
        pid: identity; 0 is a Market-1501 distractor (a negative for every query).
        camid: camera index (0-based for the occluded/partial sets: query 0, gallery 1).
        label_path: optional 7-part label PNG of the same size as the image.
    """

    path: Path
    pid: int
    camid: int
    label_path: Path | None = None


@dataclass(frozen=True)
class CocoInstance:
    """One DensePose-COCO person instance.

    Attributes:
        image_path: the whole COCO image.
        ann_id: the annotation id.
        bbox: (x, y, w, h) of the person box in image pixels, as in COCO.
        dp_masks: the 14 RLE masks (dicts with "size" and "counts"; empty/None = absent).
        source: the annotation file it comes from (named when its masks do not decode).
    """

    image_path: Path
    ann_id: int
    bbox: tuple[float, float, float, float]
    dp_masks: tuple[Any, ...]
    source: Path | None = None

    def where(self) -> str:
        """The annotation as a person finds it: file, annotation id, image."""
        place = f"{self.source}: " if self.source is not None else ""
        return f"{place}annotation {self.ann_id} (image {self.image_path.name})"


@dataclass(frozen=True)
class Splits:
    """The parsed splits of one dataset; empty tuples for splits it does not have.

    Attributes:
        name: registry name of the dataset.
        train, query, gallery: samples per split (CocoInstance for coco_densepose).
        info: protocol facts a table must state (e.g. {"query_folder": "partial_body_images"}).
        problems: non-fatal problems found while reading, one line each.
        extra_queries: other query sets scored against the same gallery, by the name their
            rows carry (e.g. Partial-REID's other query folder: codebases differ on which).
    """

    name: str
    train: tuple[Any, ...] = ()
    query: tuple[Sample, ...] = ()
    gallery: tuple[Sample, ...] = ()
    info: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    extra_queries: dict[str, tuple[Sample, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, splits: Mapping[str, tuple[Sample, ...]], problems: list[str]) -> Splits:
        """The train, query and gallery of a loader's ``split -> samples`` mapping."""
        return cls(
            name=name,
            train=splits["train"],
            query=splits["query"],
            gallery=splits["gallery"],
            problems=tuple(problems),
        )
