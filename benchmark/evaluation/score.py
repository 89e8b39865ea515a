"""Part features extracted by any model, read from an ``.npz`` (``python -m benchmark score``).

Every pid is an ordinary identity (0 and negative pids included) unless ``--market-ids`` asks
for Market-1501's codes; ties are broken pessimistically (``TIE_RULE``). Both rules are stated
in the output.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from benchmark.errors import DataError, NonFiniteError
from benchmark.evaluation.features import FeatureBank

SIDES = ("query", "gallery")
FIELDS = ("features", "visibility", "pids", "camids")
_CHECK_ROWS = 1024  # feature rows checked for NaN/inf at once (no [N, P, D] temporary)
FORMAT = (
    "an .npz with query_features [Q,P,D] (float), query_visibility [Q,P] (0/1), query_pids [Q] "
    "and query_camids [Q] (integers), and the same four gallery_*"
)
ID_RULES = {
    False: "plain: every pid is an identity",
    True: "market: pid 0 distractor (never a match), pid < 0 junk (removed)",
}
TIE_RULE = (
    "pessimistic: at equal distance (+inf included) a true match ranks after every non-match, "
    "so no result depends on the gallery's order"
)


def _array(npz: np.lib.npyio.NpzFile, path: Path, name: str) -> np.ndarray:
    try:
        return npz[name]
    except ValueError as e:  # object arrays need pickle, which we never allow
        raise DataError(f"{path}: {name} is not a numeric array ({e}); save plain arrays") from e


def _features(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind != "f":
        raise DataError(f"{name} must be a float array, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise DataError(f"{name} must be [N, P, D], got shape {arr.shape}")
    if 0 in arr.shape:
        raise DataError(f"{name} is empty (shape {arr.shape}); each set needs images, parts, dims")
    bad = 0
    for r0 in range(0, len(arr), _CHECK_ROWS):
        part = arr[r0 : r0 + _CHECK_ROWS]
        with np.errstate(over="ignore", invalid="ignore"):
            # a NaN or inf makes the sum non-finite; an overflowing sum only triggers the count
            if not np.isfinite(part.sum()):
                bad += int((~np.isfinite(part)).reshape(len(part), -1).any(1).sum())
    if bad:
        raise NonFiniteError(f"{name} contains NaN or inf in {bad} of {len(arr)} images")
    if arr.dtype.itemsize > 4:  # float64 and wider: must survive the cast to float32
        _check_float32_range(arr, name)
    return arr


def _check_float32_range(arr: np.ndarray, name: str) -> None:
    """Refuse features that float32 would turn into inf or flush towards 0 (one line).

    A part whose largest |x| is above float32's maximum overflows to inf; a nonzero part whose
    largest |x| is below float32's smallest normal number loses its digits or becomes a zero
    feature. Either would change the ranking silently.
    """
    info = np.finfo(np.float32)
    lo, hi, bad, worst = float(info.tiny), float(info.max), 0, None
    for r0 in range(0, len(arr), _CHECK_ROWS):
        peak = np.abs(arr[r0 : r0 + _CHECK_ROWS]).max(axis=-1)  # [rows, P] largest |x| per part
        out = (peak > hi) | ((peak > 0) & (peak < lo))
        if out.any():
            bad += int(out.any(axis=1).sum())
            worst = worst if worst is not None else float(peak[out][0])
    if bad:
        raise DataError(
            f"{name} is {arr.dtype} with values outside float32's range (largest |x| of a part "
            f"{worst:.3g}; float32 holds {lo:.3g} to {hi:.3g}) in {bad} of {len(arr)} images; "
            "the scorer works in float32: L2-normalise each part feature in float64 before "
            "saving (eq. 1 normalises them anyway)"
        )


def _visibility(arr: np.ndarray, name: str, shape: tuple[int, int]) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{name} must be a bool, integer or float array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise DataError(f"{name} must be [N, P] = {list(shape)} like the features, got {arr.shape}")
    if not ((arr == 0) | (arr == 1)).all():
        raise DataError(f"{name} must hold only 0 and 1 (part hidden / visible)")
    return arr


def _ids(arr: np.ndarray, name: str, n: int) -> np.ndarray:
    if arr.dtype.kind not in "iu":
        raise DataError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise DataError(f"{name} must be [N] = [{n}] like the features, got shape {arr.shape}")
    return arr


def _bank(npz: np.lib.npyio.NpzFile, path: Path, side: str) -> FeatureBank:
    feats = _features(_array(npz, path, f"{side}_features"), f"{side}_features")
    n, p = feats.shape[:2]
    vis = _visibility(_array(npz, path, f"{side}_visibility"), f"{side}_visibility", (n, p))
    pids = _ids(_array(npz, path, f"{side}_pids"), f"{side}_pids", n)
    camids = _ids(_array(npz, path, f"{side}_camids"), f"{side}_camids", n)
    return FeatureBank(
        torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)),
        torch.from_numpy(vis.astype(np.float32)),
        torch.from_numpy(pids.astype(np.int64)),
        torch.from_numpy(camids.astype(np.int64)),
    )


def load_npz(path: str | Path) -> tuple[FeatureBank, FeatureBank]:
    """Read and validate a query/gallery feature file.

    Args:
        path: .npz holding ``query_*`` and ``gallery_*`` features, visibility, pids and camids.

    Returns:
        (query, gallery) banks: float32 features, float32 visibility, int64 pids and camids.

    Raises:
        DataError: a missing file or array, a wrong shape or dtype, or an empty set (the message
            names the array); NonFiniteError: NaN or inf features.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; pass {FORMAT}")
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass {FORMAT}")
    if not zipfile.is_zipfile(path):  # text, an .npy, a pickle: numpy would blame pickling
        raise DataError(
            f"{path}: not an .npz archive (an .npz is a zip of .npy arrays, e.g. from "
            f"numpy.savez); pass {FORMAT}"
        )
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz file ({e}); write it with numpy.savez") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, not an .npz archive; pass {FORMAT}")
    with npz:
        missing = [f"{s}_{f}" for s in SIDES for f in FIELDS if f"{s}_{f}" not in npz.files]
        if missing:
            raise DataError(f"{path}: missing {', '.join(missing)}; pass {FORMAT}")
        query, gallery = (_bank(npz, path, side) for side in SIDES)
    if query.features.shape[1:] != gallery.features.shape[1:]:
        raise DataError(
            f"gallery_features is [G, P, D] = {list(gallery.features.shape)} but query_features "
            f"is {list(query.features.shape)}; both need the same P and D"
        )
    return query, gallery


def check_visible(query: FeatureBank, gallery: FeatureBank, path: Path) -> None:
    """A side whose every image hides every part makes every eq. (1) distance +inf: refuse it
    rather than rank by ties alone."""
    for side, bank in zip(SIDES, (query, gallery), strict=True):
        if not bank.visibility.any():
            raise DataError(
                f"{path}: every {side} image has every part hidden ({side}_visibility is all "
                "0); check how visibility was exported (1 = visible), or score with --no-vis"
            )
