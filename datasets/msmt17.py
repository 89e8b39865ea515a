"""MSMT17 loader (V1 and V2): image folders plus the release's ``list_*.txt`` files.

``MSMT17_V1/{train,test}/`` or ``MSMT17_V2/{mask_train_v2,mask_test_v2}/``, each beside
``list_{train,val,query,gallery}.txt`` whose lines read ``<pid>/<name>.jpg <label>``. The label
is the identity; the camera is the third field of the name (``0000_000_01_0303morning_0015_0``:
camera 1). The usual protocol trains on train + val (val holds images of the training
identities): 1,041 ids / 32,621 images; query 11,659 and gallery 82,161 images of 3,060 ids.
"""

from __future__ import annotations

from pathlib import Path

from reid_datasets.base import ExpectedCounts, Splits, register_dataset
from reid_datasets.label_trees import attach_mirrored_labels, check_kind
from reid_datasets.layout import (
    UNPACK_HINT,
    DatasetLayout,
    ProblemLog,
    find_dir,
    find_file,
    relative_files,
)
from reid_datasets.samples import Sample

NAME = "msmt17"
LAYOUT = DatasetLayout(
    dataset=NAME,
    candidates=(
        "MSMT17_V2",
        "MSMT17_V1",
        "msmt17/MSMT17_V2",
        "msmt17/MSMT17_V1",
        "MSMT17",
        "msmt17",
    ),
    markers=("train", "test", "mask_train_v2", "mask_test_v2"),
)
# image folder of each version: (train and val lists, query and gallery lists)
FOLDERS = (("train", "test"), ("mask_train_v2", "mask_test_v2"))
LISTS = {"train": ("list_train.txt", "list_val.txt"), "query": ("list_query.txt",)}
LISTS["gallery"] = ("list_gallery.txt",)
LINE_FORMAT = "<pid>/<name>.jpg <label> (e.g. 0000/0000_000_01_0303morning_0015_0.jpg 0)"


def camera_of(name: str) -> int | None:
    """The 0-based camera of an MSMT17 image name (its third field, 1-15); None if not there."""
    fields = Path(name).stem.split("_")
    if len(fields) < 3 or not fields[2].isdigit() or int(fields[2]) < 1:
        return None
    return int(fields[2]) - 1


def _image_folders(base: Path, log: ProblemLog) -> tuple[Path | None, Path | None]:
    """The (train, test) image folders of whichever version lies in ``base``."""
    for train_name, test_name in FOLDERS:
        train, test = find_dir(base, train_name), find_dir(base, test_name)
        if train is not None or test is not None:
            return train, test
    log.report(
        f"{NAME}: neither train/ and test/ (V1) nor mask_train_v2/ and mask_test_v2/ (V2) "
        f"found under {base}; {UNPACK_HINT}"
    )
    return None, None


def _read_list(
    base: Path, list_name: str, folder: Path, present: set[str], log: ProblemLog
) -> list[Sample]:
    """Samples of one list file; bad lines and missing images are reported, one line each."""
    path = find_file(base, list_name)
    if path is None:
        log.report(f"{NAME}: {list_name} not found in {base}; {UNPACK_HINT}")
        return []
    samples, bad, missing = [], [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        camid = camera_of(fields[0]) if len(fields) == 2 else None
        if camid is None or not fields[1].lstrip("-").isdigit():
            bad.append(f"line {number}: {line.strip()[:60]!r}")
            continue
        if fields[0] not in present:
            missing.append(fields[0])
            continue
        samples.append(Sample(path=folder / fields[0], pid=int(fields[1]), camid=camid))
    if bad:
        log.report(
            f"{NAME}: {len(bad)} line(s) of {path} do not read as {LINE_FORMAT} "
            f"(first: {bad[0]}); restore the release's list file"
        )
    if missing:
        log.report(
            f"{NAME}: {len(missing)} of the images listed in {path} are missing under {folder} "
            f"(first: {missing[0]}); re-extract the release"
        )
    return samples


@register_dataset(
    NAME,
    expected=ExpectedCounts(train=(1041, 32621), query=(3060, 11659), gallery=(3060, 82161)),
    display="MSMT17",
    roles=("train", "test"),  # trained and tested on itself, at scale
    order=12,
    layout=LAYOUT,
    trained_on=NAME,
)
def load_msmt17(root: Path, labels: str | None = None, strict: bool = True) -> Splits:
    """Parse MSMT17 (V1 or V2) under ``root``; training = list_train + list_val.

    Args:
        root: the data root.
        labels: None, "ps" or "gt": attach the part labels of ``<release>_<labels>_label``, a
            tree that mirrors the image tree (``label_trees.attach_mirrored_labels``).
        strict: raise DataError on the first problem; if False, collect them in Splits.problems.
    """
    check_kind(NAME, labels)
    log = ProblemLog(strict)
    base = LAYOUT.locate(root)
    train_dir, test_dir = _image_folders(base, log)
    splits: dict[str, tuple[Sample, ...]] = {}
    walked: dict[Path, set[str]] = {}
    for split, names in LISTS.items():
        folder = train_dir if split == "train" else test_dir
        if folder is None:
            splits[split] = ()
            continue
        present = walked[folder] = walked.get(folder) or relative_files(folder)
        read = [s for name in names for s in _read_list(base, name, folder, present, log)]
        splits[split] = tuple(read)
    if labels is not None:
        splits = attach_mirrored_labels(NAME, splits, base, LAYOUT.candidates[0], labels, log)
    return Splits.of(NAME, splits, log.lines)
