"""Predict 7-part pseudo labels of a training set: the ``_ps_label`` PNG tree beside the release
(Market-1501's format, by split folder and stem, also for Occluded-Duke; P-DukeMTMC-reID and
MSMT17, whose images lie in nested folders, get a tree that mirrors the image tree)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from benchmark.atomic import atomic_path, write_json_atomic
from benchmark.errors import DataError, UserError
from benchmark.human_parsing.config import ParseConfig
from benchmark.human_parsing.model import PartParser
from benchmark.loading.data import read_image, to_tensor
from benchmark.loading.transforms import normalise
from benchmark.state_files import load_state
from reid_datasets import market1501, msmt17, occluded_duke, p_dukemtmc
from reid_datasets.base import load_dataset
from reid_datasets.label_trees import mirrored_label
from reid_datasets.layout import DatasetLayout, find_dir, list_images

log = logging.getLogger(__name__)

PS_SUFFIX = "_ps_label"
PROVENANCE = "parse_label.json"  # beside the split folders; the loader reads only the PNGs
# the data sets ``parse label`` writes trees for: where they lie and their split folders
BY_SPLIT_FOLDER: dict[str, tuple[DatasetLayout, dict[str, str]]] = {
    "market1501": (market1501.LAYOUT, market1501.SPLIT_FOLDERS),
    "occluded_duke": (occluded_duke.LAYOUT, occluded_duke.SPLIT_FOLDERS),
}
# ... and those whose label tree mirrors the image tree (every image its loader lists)
MIRRORED: dict[str, DatasetLayout] = {"p_dukemtmc": p_dukemtmc.LAYOUT, "msmt17": msmt17.LAYOUT}
LABELLED = (*BY_SPLIT_FOLDER, *MIRRORED)


@dataclass(frozen=True)
class LabelReport:
    """What ``label_dataset`` did.

    Attributes:
        tree: the ``_ps_label`` folder.
        written: label PNGs written.
        skipped: images that already had a label (kept; see ``overwrite``).
        checkpoint: the parser checkpoint used.
    """

    tree: Path
    written: int
    skipped: int
    checkpoint: Path


@dataclass(frozen=True)
class Job:
    """One image to label and where its PNG goes."""

    image: Path
    label: Path


def latest_checkpoint(results: Path) -> Path:
    """The newest ``*/checkpoint.pt`` under ``results`` (by modification time)."""
    found = sorted(results.glob("*/checkpoint.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise UserError(
            f"no parser checkpoint under {results}; run 'python -m benchmark parse train' first "
            "or pass --checkpoint FILE"
        )
    return found[-1]


def load_parser(checkpoint: Path, device: torch.device) -> tuple[PartParser, ParseConfig]:
    """Rebuild the parser recorded in ``checkpoint`` (weights_only) in eval mode."""
    todo = "pass the checkpoint.pt of a 'parse train' run"
    state = load_state(checkpoint, "parser checkpoint", todo)
    try:
        cfg = ParseConfig.from_dict(state["extra"]["parse_config"])
        model = PartParser(cfg.backbone, cfg.attention)  # trained weights replace pretrained ones
        model.load_state_dict(state["model"])
    except (OSError, RuntimeError, KeyError, TypeError, EOFError) as e:
        raise UserError(
            f"cannot load parser checkpoint {checkpoint}: {e}; pass the checkpoint.pt of a "
            "'parse train' run"
        ) from e
    return model.to(device).eval(), cfg


def label_jobs(
    root: Path, overwrite: bool, dataset: str = "market1501"
) -> tuple[Path, list[Job], int]:
    """The ps tree and the images to label: every image of the three split folders (junk
    included), or for a mirrored tree every image the loader lists (train, query, gallery).

    Returns:
        (ps tree, jobs, number of images skipped because their label exists).
    """
    if dataset in MIRRORED:
        release = MIRRORED[dataset].locate(root)
        tree = release.parent / (release.name + PS_SUFFIX)
        splits = load_dataset(dataset, root)  # a broken release: its loader's one-line error
        images = sorted({s.path for s in splits.train + splits.query + splits.gallery})
        planned = [Job(image, mirrored_label(release, tree, image)) for image in images]
    else:
        layout, split_folders = BY_SPLIT_FOLDER[dataset]
        release = layout.locate(root)
        tree = release.parent / (release.name + PS_SUFFIX)
        planned = []
        for folder in split_folders.values():
            images_dir = find_dir(release, folder)
            if images_dir is None:
                raise DataError(
                    f"{dataset}: folder {folder} not found under {release}; unpack it there"
                )
            out = find_dir(tree, folder) or tree / folder
            planned += [Job(image, out / f"{image.stem}.png") for image in list_images(images_dir)]
    jobs = [job for job in planned if overwrite or not job.label.exists()]
    return tree, jobs, len(planned) - len(jobs)


@torch.no_grad()
def predict(
    model: PartParser, images: Sequence[Path], size: tuple[int, int], device, flip: bool
) -> list[np.ndarray]:
    """7-part maps [h, w] uint8 of ``images``, each at its own file's size.

    Args:
        size: (H, W) network input size.
        flip: average the logits with those of the mirrored image (test-time flip).
    """
    batch = torch.stack([normalise(to_tensor(read_image(p, size))) for p in images]).to(device)
    probs = model(batch).softmax(1)  # [N, 8, H, W]
    if flip:
        probs = (probs + model(batch.flip(-1)).softmax(1).flip(-1)) / 2
    maps = []
    for path, p in zip(images, probs, strict=True):
        with Image.open(path) as im:
            w, h = im.size
        full = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)
        maps.append(full[0].argmax(0).to(torch.uint8).cpu().numpy())
    return maps


def save_label(label: np.ndarray, path: Path) -> None:
    """Write a single-channel ("L") PNG atomically (``benchmark.atomic.atomic_path``)."""
    with atomic_path(path) as tmp:
        Image.fromarray(label, "L").save(tmp, format="PNG")


def label_dataset(
    root: Path,
    checkpoint: Path,
    device: torch.device,
    overwrite: bool = False,
    batch_size: int = 64,
    flip: bool = True,
    dataset: str = "market1501",
) -> LabelReport:
    """Write ``ROOT/<release>_ps_label/<folder>/<stem>.png`` for every image of ``dataset``
    (``Market-1501-v15.09.15_ps_label``, ``Occluded_Duke_ps_label``), or the mirrored tree
    ``<release>_ps_label/<the image's path in the release>.png`` (P-DukeMTMC-reID, MSMT17).

    Every image of bounding_box_train, bounding_box_test (junk included) and query (or every
    image the loader lists) gets a map of the image's size with values 0-7; images already
    labelled are skipped unless ``overwrite``. Each PNG is written atomically, so an
    interrupted run can simply be rerun.
    """
    tree, jobs, skipped = label_jobs(Path(root), overwrite, dataset)
    model, cfg = load_parser(checkpoint, device)
    size = (cfg.height, cfg.width)
    for i in tqdm(range(0, len(jobs), batch_size), desc="parse label", leave=False):
        chunk = jobs[i : i + batch_size]
        for job, label in zip(
            chunk, predict(model, [j.image for j in chunk], size, device, flip), strict=True
        ):
            save_label(label, job.label)
    if jobs or not (tree / PROVENANCE).exists():  # a rerun that only skips keeps the record
        write_json_atomic(
            {
                "checkpoint": str(Path(checkpoint).resolve()),
                "flip": flip,
                "written": len(jobs),
                "skipped": skipped,
            },
            tree / PROVENANCE,
        )
    log.info("labelled %d images under %s (%d already labelled)", len(jobs), tree, skipped)
    return LabelReport(tree, len(jobs), skipped, Path(checkpoint))
