"""The DATASETS registry: a loader per name with its display metadata, roles and layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError
from benchmark.registry import Registry
from reid_datasets.layout import DatasetLayout
from reid_datasets.samples import SPLITS, CocoInstance, Sample, Splits

__all__ = [
    "DATASETS",
    "ROLES",
    "SPLITS",
    "CocoInstance",
    "DatasetInfo",
    "ExpectedCounts",
    "Sample",
    "Splits",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
# What the suite uses a data set for: ReID training, query/gallery testing, part-parser training.
ROLES = ("train", "test", "parsing")


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
        market_ids: its pids follow Market-1501's codes (-1 junk, 0 a distractor that never
            matches); evaluation applies them. Other sets: every pid an ordinary identity.
        examples: the set whose rank lists and part masks a run draws (the paper's Figs. 5-6).
        options: the loader's keyword arguments that a run sets, each mapped to the run
            setting that holds its value, e.g. ``{"query_folder": "eval.partial_reid_query"}``.
        control: an occluded or partial set whose whole-body gallery also gives a whole-body
            control (whole-to-whole across its own cameras), where the cameras are known.
        trained_on: a test set's protocol: the training set whose runs test on it by default
            (Market-1501 for the paper's sets; Occluded-Duke, P-DukeMTMC and MSMT17 train and
            test on themselves).
        note: a caption line every table with its results carries (e.g. "Duke-derived ...").
    """

    display: str
    roles: tuple[str, ...] = ("test",)
    order: int | None = None
    test_label: str | None = None
    expected: ExpectedCounts = ExpectedCounts()
    layout: DatasetLayout | None = None
    market_ids: bool = False
    examples: bool = False
    options: tuple[tuple[str, str], ...] = ()
    control: bool = False
    trained_on: str = "market1501"
    note: str | None = None

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
    market_ids: bool = False,
    examples: bool = False,
    options: dict[str, str] | None = None,
    control: bool = False,
    trained_on: str = "market1501",
    note: str | None = None,
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
        display or name,
        tuple(roles),
        order,
        test_label,
        expected or ExpectedCounts(),
        layout,
        market_ids,
        examples,
        tuple(sorted((options or {}).items())),
        control,
        trained_on,
        note,
    )
    return DATASETS.decorator(name, expected=info.expected, info=info)


def dataset_info(name: str) -> DatasetInfo:
    """Data set ``name``'s registered info; an unregistered name shows as itself, after the rest."""
    return DATASETS.meta(name)["info"] if name in DATASETS else DatasetInfo(display=name)


def dataset_rank(name: str) -> tuple[bool, int, str]:
    """Sort key of data sets: registered order, then the unordered ones by name."""
    order = dataset_info(name).order
    return (order is None, order or 0, name)


def examples_set() -> str | None:
    """The registered data set whose rank lists and masks a run draws; None if none is."""
    return next((n for n in DATASETS if dataset_info(n).examples), None)


def datasets_with_role(role: str) -> list[str]:
    """Registered data sets with ``role`` ("train", "test" or "parsing"), in table order."""
    return sorted((n for n in DATASETS if role in dataset_info(n).roles), key=dataset_rank)


def default_test_sets(train_set: str) -> list[str]:
    """The test sets a run trained on ``train_set`` scores by default (their ``trained_on``)."""
    return [n for n in datasets_with_role("test") if dataset_info(n).trained_on == train_set]


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
