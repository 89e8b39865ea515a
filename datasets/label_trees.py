"""Part-label trees beside a release's image tree: ``<image tree>_ps_label`` / ``_gt_label``.

- Releases laid out in split folders (Market-1501, Occluded-Duke): one PNG per image under the
  same split folder and stem (the official HPNet release's format for Market-1501).
- Releases with nested folders (P-DukeMTMC-reID's per-identity folders, MSMT17's): the label tree
  mirrors the image tree, ``<release>_ps_label/<the image's path in the release>.png``
  (``attach_mirrored_labels``; ``parse label`` writes both kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from benchmark.errors import ConfigError
from reid_datasets.layout import (
    DatasetLayout,
    NameParser,
    ProblemLog,
    find_dir,
    relative_files,
    require_dir,
    scan_folder,
)
from reid_datasets.samples import Sample, Splits

# labels option -> suffix of the label tree beside the image tree.
LABEL_SUFFIXES = {"ps": "_ps_label", "gt": "_gt_label"}


def check_kind(dataset: str, kind: str | None) -> None:
    """A one-line error for a labels option other than None, "ps" or "gt"."""
    if kind is not None and kind not in LABEL_SUFFIXES:
        raise ConfigError(f"{dataset}: unknown labels {kind!r}; choose one of: ps, gt (or None)")


def find_label_dir(image_dir: Path, kind: str, canonical: str) -> Path | None:
    """The ``<image tree>_ps_label`` (kind "ps") or ``_gt_label`` (kind "gt") tree, if present.

    It is looked for beside the image tree, under the image tree's own name first, then under
    the release's ``canonical`` folder name.
    """
    suffix = LABEL_SUFFIXES[kind]
    for name in (image_dir.name + suffix, canonical + suffix):
        found = find_dir(image_dir.parent, name)
        if found is not None:
            return found
    return None


def _label_dir(
    dataset: str, release: Path, kind: str, canonical: str, log: ProblemLog, shape: str = ""
) -> Path | None:
    """The release's ``kind`` label tree; when absent, a one-line report saying where it goes."""
    label_dir = find_label_dir(release, kind, canonical)
    if label_dir is None:
        log.report(
            f"{dataset}: folder {canonical + LABEL_SUFFIXES[kind]} not found beside {release}; "
            f"put the {kind} part labels there{shape} or train without labels"
        )
    return label_dir


def _attach(
    dataset: str, samples: tuple[Sample, ...], label_dir: Path, kind: str, log: ProblemLog
) -> tuple[Sample, ...]:
    """Attach ``label_dir/<stem>.png`` to each sample; report missing ones in one line."""
    pngs = {p.name.lower(): p for p in label_dir.iterdir() if p.suffix.lower() == ".png"}
    attached: list[Sample] = []
    missing: list[str] = []
    for sample in samples:
        label = pngs.get(sample.path.stem.lower() + ".png")
        if label is None:
            missing.append(sample.path.stem + ".png")
        attached.append(replace(sample, label_path=label))
    if missing:
        log.report(
            f"{dataset}: {len(missing)} of {len(samples)} {kind} label PNGs missing in {label_dir} "
            f"(first: {missing[0]}); regenerate the labels or train without them"
        )
    return tuple(attached)


def attach_labels(
    dataset: str,
    splits: dict[str, tuple[Sample, ...]],
    image_dir: Path,
    canonical: str,
    split_folders: Mapping[str, str],
    kind: str,
    log: ProblemLog,
) -> dict[str, tuple[Sample, ...]]:
    """Attach part labels: required for train; query/gallery only if their label folder exists.

    Args:
        dataset: registry name, used in messages.
        splits: samples per split.
        image_dir: the release's folder (the label tree lies beside it).
        canonical: the release's folder name (the label tree's name when spelled otherwise).
        split_folders: split -> folder name, the same in the image and label trees.
        kind: "ps" or "gt".
        log: where problems go.
    """
    label_dir = _label_dir(dataset, image_dir, kind, canonical, log)
    if label_dir is None:
        return splits
    result = dict(splits)
    for split, folder in split_folders.items():
        found = find_dir(label_dir, folder)
        if found is None and split == "train":
            require_dir(dataset, label_dir, folder, log)
        if found is not None and splits[split]:
            result[split] = _attach(dataset, splits[split], found, kind, log)
    return result


def mirrored_label(release: Path, label_dir: Path, image: Path) -> Path:
    """Where the label PNG of ``image`` lies in a tree that mirrors the release's image tree."""
    return label_dir / image.relative_to(release).with_suffix(".png")


def attach_mirrored_labels(
    dataset: str,
    splits: dict[str, tuple[Sample, ...]],
    release: Path,
    canonical: str,
    kind: str,
    log: ProblemLog,
) -> dict[str, tuple[Sample, ...]]:
    """Attach part labels from a tree that mirrors the image tree (``mirrored_label``): every
    training image needs one; a query or gallery split gets them when any of its images has one.

    Args:
        dataset: registry name, used in messages.
        splits: samples per split.
        release: the release's folder (the label tree lies beside it).
        canonical: the release's folder name (the label tree's name when spelled otherwise).
        kind: "ps" or "gt".
        log: where problems go.
    """
    label_dir = _label_dir(dataset, release, kind, canonical, log, " (mirroring the images)")
    if label_dir is None:
        return splits
    present = relative_files(label_dir)
    result = dict(splits)
    for split, samples in splits.items():
        labels = [mirrored_label(release, label_dir, s.path) for s in samples]
        found = [p.relative_to(label_dir).as_posix() in present for p in labels]
        if split != "train" and not any(found):
            continue  # unlabelled test images: fine
        missing = [p for p, ok in zip(labels, found, strict=True) if not ok]
        if missing:
            log.report(
                f"{dataset}: {len(missing)} of {len(samples)} {split} {kind} label PNGs missing "
                f"under {label_dir} (first: {missing[0].relative_to(label_dir).as_posix()}); "
                "regenerate the labels or train without them"
            )
        result[split] = tuple(
            replace(s, label_path=p if ok else None)
            for s, p, ok in zip(samples, labels, found, strict=True)
        )
    return result


def load_split_release(
    dataset: str,
    layout: DatasetLayout,
    split_folders: Mapping[str, str],
    parse: NameParser,
    name_format: str,
    root: Path,
    labels: str | None,
    strict: bool,
) -> Splits:
    """Train, query and gallery of a release in split folders, with part labels if asked.

    Args:
        dataset: registry name, used in messages.
        layout: where the release lies under ``root``.
        split_folders: split -> folder name (the same in the label trees).
        parse: file stem -> pid and camera.
        name_format: the expected name pattern, shown when a name does not parse.
        root: the data root.
        labels: None, "ps" or "gt": the label tree to attach (required for train).
        strict: raise DataError on the first problem; else collect them in Splits.problems.
    """
    check_kind(dataset, labels)
    log = ProblemLog(strict)
    base = layout.locate(root)
    splits: dict[str, tuple[Sample, ...]] = {}
    for split, folder_name in split_folders.items():
        folder = require_dir(dataset, base, folder_name, log)
        splits[split] = scan_folder(dataset, folder, parse, name_format, log) if folder else ()
    if labels is not None:
        canonical = layout.candidates[0]
        splits = attach_labels(dataset, splits, base, canonical, split_folders, labels, log)
    return Splits.of(dataset, splits, log.lines)
