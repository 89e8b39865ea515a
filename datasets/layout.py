"""Finding dataset folders and image files under a data root, whatever the release's spelling."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DataError, folder_problem
from reid_datasets.samples import Sample

# Real releases mix extension case (.jpg, .JPG, .tif): compare lowercased.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
# Files and folders that archives and file browsers leave behind; never data.
CLUTTER_NAMES = frozenset({"thumbs.db", ".ds_store", "desktop.ini", "__macosx"})

UNPACK_HINT = "unpack the release there (folder names are matched case-insensitively)"


class ProblemLog:
    """Raises the first problem (strict loading) or collects every problem (``datasets check``).

    Args:
        strict: raise ``DataError`` on the first problem instead of collecting it.
    """

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.lines: list[str] = []

    def report(self, message: str) -> None:
        """Raise ``message`` as a DataError when strict, else record it."""
        if self.strict:
            raise DataError(message)
        self.lines.append(message)


@dataclass(frozen=True)
class DatasetLayout:
    """Where one dataset's folder may lie under a data root.

    Attributes:
        dataset: registry name, used in messages.
        candidates: relative folder paths to try in order ("/"-separated, matched
            case-insensitively), e.g. the DESIGN layout and the official HPNet nesting.
        markers: sub-folders of which at least one identifies the right folder.
    """

    dataset: str
    candidates: tuple[str, ...]
    markers: tuple[str, ...]

    def find(self, root: Path) -> Path | None:
        """The dataset folder: the first candidate holding a marker, else the first existing one."""
        existing = [p for p in (find_path(root, c) for c in self.candidates) if p is not None]
        for path in existing:
            if any(find_dir(path, marker) is not None for marker in self.markers):
                return path
        return existing[0] if existing else None

    def locate(self, root: Path) -> Path:
        """Like ``find`` but a missing root or folder is a one-line DataError."""
        root = Path(root)
        if problem := folder_problem(root):
            raise DataError(
                f"{self.dataset}: data root {root} {problem}; "
                "pass --root DIR naming the folder that holds the data sets"
            )
        found = self.find(root)
        if found is None:
            raise DataError(
                f"{self.dataset}: folder {self.candidates[0]} not found under {root} "
                f"(expected one of {', '.join(self.candidates)}); {UNPACK_HINT}"
            )
        return found


def is_clutter(name: str) -> bool:
    """Whether a file or folder name is archive/file-browser clutter (hidden files included)."""
    return name.startswith(".") or name.lower() in CLUTTER_NAMES


def find_dir(parent: Path, name: str) -> Path | None:
    """The sub-folder of ``parent`` called ``name``, ignoring case; None if absent."""
    return _find_entry(parent, name, Path.is_dir)


def find_file(parent: Path, name: str) -> Path | None:
    """The file of ``parent`` called ``name`` (e.g. a list file), ignoring case; None if absent."""
    return _find_entry(parent, name, Path.is_file)


def _find_entry(parent: Path, name: str, kind: Callable[[Path], bool]) -> Path | None:
    exact = parent / name
    if kind(exact):
        return exact
    if not parent.is_dir():
        return None
    wanted = name.lower()
    matches = sorted(p for p in parent.iterdir() if p.name.lower() == wanted and kind(p))
    return matches[0] if matches else None


def find_path(root: Path, relative: str) -> Path | None:
    """Resolve a "/"-separated folder path under ``root`` component by component, ignoring case."""
    path: Path | None = root
    for part in relative.split("/"):
        path = find_dir(path, part) if path is not None else None
    return path


def require_dir(dataset: str, parent: Path, name: str, log: ProblemLog) -> Path | None:
    """The sub-folder ``name`` of ``parent``; a missing one is reported (None when collected)."""
    found = find_dir(parent, name)
    if found is None:
        log.report(
            f"{dataset}: folder {name} not found under {parent} (expected {parent / name}); "
            f"{UNPACK_HINT}"
        )
    return found


def relative_files(folder: Path) -> set[str]:
    """Relative posix paths of every file under ``folder`` (one walk, not one stat per file)."""
    found: set[str] = set()
    for current, _, files in os.walk(folder):
        rel = Path(current).relative_to(folder).as_posix()
        found.update(f if rel == "." else f"{rel}/{f}" for f in files)
    return found


def list_images(folder: Path, recursive: bool = False) -> tuple[Path, ...]:
    """Image files in ``folder`` (and its sub-folders if ``recursive``), sorted by relative path.

    Extensions are matched case-insensitively; clutter and hidden files or folders are skipped.
    """
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if recursive and not is_clutter(d))
        found.extend(
            Path(current) / f
            for f in files
            if not is_clutter(f) and Path(f).suffix.lower() in IMAGE_EXTENSIONS
        )
    return tuple(sorted(found, key=lambda p: p.relative_to(folder).as_posix()))


@dataclass(frozen=True)
class ParsedName:
    """Identity and camera read from a file name (pid -1 = junk, dropped at load)."""

    pid: int
    camid: int


NameParser = Callable[[str], "ParsedName | None"]
PathParser = Callable[[Path], "ParsedName | None"]


def scan_folder(
    dataset: str,
    folder: Path,
    parse: NameParser | PathParser,
    name_format: str,
    log: ProblemLog,
    recursive: bool = False,
    by_path: bool = False,
) -> tuple[Sample, ...]:
    """Parse every image name in ``folder`` into Samples, sorted; junk (pid -1) is dropped.

    Args:
        dataset: registry name, used in messages.
        folder: the split folder.
        parse: file stem -> ParsedName, or None when the name does not parse.
        name_format: the expected name pattern, shown when a name does not parse.
        log: where problems go (an empty folder, unparseable names).
        recursive: also read per-identity sub-folders.
        by_path: ``parse`` reads the whole path (e.g. an identity folder's name), not the stem.
    """
    images = list_images(folder, recursive=recursive)
    if not images:
        log.report(f"{dataset}: folder {folder} holds no images; {UNPACK_HINT}")
        return ()
    samples: list[Sample] = []
    bad: list[Path] = []
    for path in images:
        parsed = parse(path) if by_path else parse(path.stem)  # type: ignore[arg-type]
        if parsed is None:
            bad.append(path)
        elif parsed.pid != -1:
            samples.append(Sample(path=path, pid=parsed.pid, camid=parsed.camid))
    if bad:
        log.report(
            f"{dataset}: {len(bad)} file name(s) in {folder} do not parse as {name_format} "
            f"(first: {bad[0].name}); rename or remove them"
        )
    return tuple(samples)
