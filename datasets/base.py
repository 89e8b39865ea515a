"""Dataset contract: Sample, Splits, ExpectedCounts and the DATASETS registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import ConfigError
from benchmark.registry import Registry

if TYPE_CHECKING:
    from reid_datasets.layout import DatasetLayout

SPLITS = ("train", "query", "gallery")
# What the suite uses a data set for: ReID training, query/gallery testing, part-parser training.
ROLES = ("train", "test", "parsing")


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
    """

    image_path: Path
    ann_id: int
    bbox: tuple[float, float, float, float]
    dp_masks: tuple[Any, ...]


@dataclass(frozen=True)
class Splits:
    """The parsed splits of one dataset; empty tuples for splits it does not have.

    Attributes:
        name: registry name of the dataset.
        train, query, gallery: samples per split (CocoInstance for coco_densepose).
        info: protocol facts a table must state (e.g. {"query_folder": "partial_body_images"}).
        problems: non-fatal problems found while reading, one line each.
    """

    name: str
    train: tuple[Any, ...] = ()
    query: tuple[Sample, ...] = ()
    gallery: tuple[Sample, ...] = ()
    info: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectedCounts:
    """Identity and image counts of the real release, per split (None = not applicable)."""

    train: tuple[int, int] | None = None
    query: tuple[int, int] | None = None
    gallery: tuple[int, int] | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """How reports name and place a data set, and what the suite uses it for.

    Attributes:
        display: the release's name, e.g. "Partial-iLIDS'18".
        roles: some of ``ROLES``; ``datasets check`` reports a train or parsing set's train
            split and a test set's query and gallery.
        order: place among data sets in tables and reports, lower first; None places it after
            the built-ins, by name.
        test_label: its column label in result tables and figures; None: ``display``.
        expected: the real release's counts.
        layout: where it lies under a data root; None: ``datasets check`` loads it to find out.
    """

    display: str
    roles: tuple[str, ...] = ("test",)
    order: int | None = None
    test_label: str | None = None
    expected: ExpectedCounts = ExpectedCounts()
    layout: DatasetLayout | None = None

    @property
    def label(self) -> str:
        """The label of its results (test columns, figure titles)."""
        return self.test_label or self.display


Loader = Callable[..., Splits]

DATASETS: Registry[Loader] = Registry(
    "dataset", plugin_hint="a third-party dataset must be imported with --plugin MODULE"
)


def register_dataset(
    name: str,
    expected: ExpectedCounts | None = None,
    *,
    display: str | None = None,
    roles: tuple[str, ...] = ("test",),
    order: int | None = None,
    test_label: str | None = None,
    layout: DatasetLayout | None = None,
) -> Callable[[Loader], Loader]:
    """Register ``loader(root: Path, strict: bool = True, **options) -> Splits`` under ``name``.

    ``strict=False`` (used by ``datasets check``) collects problems in ``Splits.problems``
    instead of raising. The other arguments are ``DatasetInfo``'s; display defaults to ``name``.
    """
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise ConfigError(
            f"dataset {name!r}: roles must be some of {', '.join(ROLES)}, got {roles!r}"
        )
    info = DatasetInfo(
        display or name, tuple(roles), order, test_label, expected or ExpectedCounts(), layout
    )
    return DATASETS.decorator(name, expected=info.expected, info=info)


def dataset_info(name: str) -> DatasetInfo:
    """Data set ``name``'s registered info; an unregistered name shows as itself, after the rest."""
    return DATASETS.meta(name)["info"] if name in DATASETS else DatasetInfo(display=name)


def dataset_rank(name: str) -> tuple[bool, int, str]:
    """Sort key of data sets: registered order, then the unordered ones by name."""
    order = dataset_info(name).order
    return (order is None, order or 0, name)


def datasets_with_role(role: str) -> list[str]:
    """Registered data sets with ``role`` ("train", "test" or "parsing"), in table order."""
    return sorted((n for n in DATASETS if role in dataset_info(n).roles), key=dataset_rank)


def load_dataset(name: str, root: Path, **options: Any) -> Splits:
    """Parse dataset ``name`` under the data ``root``.

    A data set registered with a layout is first located under ``root`` (a one-line DataError
    naming the folders tried), so a plug-in loader never runs on a folder that is not there.
    """
    loader = DATASETS.get(name)
    layout = dataset_info(name).layout
    if layout is not None:
        layout.locate(Path(root))
    return loader(Path(root), **options)


def list_datasets() -> list[str]:
    """Names of all registered datasets."""
    return DATASETS.names()
