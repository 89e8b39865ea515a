"""Generate the synthetic data root (all sets, real formats), cached by the config's hash."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from benchmark.atomic import write_text_atomic
from benchmark.errors import DataError
from reid_datasets.synthetic.cameras import Camera, make_camera
from reid_datasets.synthetic.coco import SPLITS, coco_file_name, render_scene, scene_annotations
from reid_datasets.synthetic.coco import scene_cameras as coco_cameras
from reid_datasets.synthetic.config import GENERATOR_VERSION, SynthConfig, synth_config
from reid_datasets.synthetic.people import random_identity
from reid_datasets.synthetic.render import Shot, render_shot
from reid_datasets.synthetic.sets import (
    ILIDS_2018,
    ILIDS_2019,
    MARKET,
    OCCLUDED_DUKE,
    OCCLUDED_REID,
    PARTIAL_REID,
    PLANNERS,
    SELF_CONTAINED,
    SET_CAMERAS,
    SET_CODES,
    Job,
    make_pools,
)
from reid_datasets.synthetic.writers import (
    LABEL_SUFFIX,
    coco_document,
    label_relpath,
    save_image,
    save_label,
    write_json,
)

__all__ = ["SynthConfig", "synth_config", "generate", "MARKER"]

logger = logging.getLogger(__name__)

MARKER = "synthetic.json"  # written last: its presence with the right hash means "complete"
IN_PROGRESS = ".synthetic_incomplete"  # written first: the root is ours even if interrupted
# per-image facts: the set's camera, occluder, visible share of the body, and for a partial crop
# the box it was cut from in its source image (y0 y1 x0 x1; the source is cfg.height x width)
META = "synthetic_images.csv"
RELEASES = (MARKET, PARTIAL_REID, ILIDS_2018, ILIDS_2019, OCCLUDED_REID, OCCLUDED_DUKE)
OWNED = (*RELEASES, *(r + LABEL_SUFFIX for r in RELEASES), "coco")


def generate(root: Path, cfg: SynthConfig, progress: bool = True) -> bool:
    """Write every set of ``cfg`` under ``root`` in the real releases' formats.

    Deterministic from ``cfg.seed``: the same config gives the same bytes.

    Args:
        root: the data root (created if missing).
        cfg: what to draw.
        progress: show a tqdm progress bar.

    Returns:
        False (writing nothing) when ``root`` already holds a complete tree of this config;
        True after (re)generating it, which first removes an older synthetic tree.

    Raises:
        DataError: ``root`` holds dataset folders that the generator did not write.
    """
    root = Path(root)
    if is_current(root, cfg):
        logger.info("synthetic data under %s is up to date (%s)", root, cfg.digest())
        return False
    _claim(root, cfg)
    start = time.perf_counter()
    files: Counter[str] = Counter()
    meta: list[tuple[str, int, str, float, str]] = []
    jobs = plan_jobs(cfg)
    coco = _coco_plan(cfg)
    with tqdm(
        total=len(jobs) + len(coco), desc="synthetic data", unit="img", disable=not progress
    ) as bar:
        cams: dict[str, list[Camera]] = {}
        for job in jobs:
            if job.set_name not in cams:
                cams[job.set_name] = set_cameras(cfg, job.set_name)
            for path, shot in render_job(cfg, job, cams[job.set_name]):
                _write_shot(root, path, shot, files)
                box = "" if shot.source_box is None else " ".join(map(str, shot.source_box))
                meta.append((path, job.camera, shot.occluder, round(shot.visible_fraction, 4), box))
            bar.update()
        _write_coco(root, cfg, coco, files, bar)
    _write_meta(root, meta)
    files[META] = 1
    elapsed = time.perf_counter() - start
    logger.info(
        "synthetic data: %d images in %.1f s (%.0f images/s) under %s",
        len(jobs) + len(coco),
        elapsed,
        (len(jobs) + len(coco)) / max(elapsed, 1e-9),
        root,
    )
    record = {
        "version": GENERATOR_VERSION,
        "hash": cfg.digest(),
        "config": cfg.to_dict(),
        "files": dict(sorted(files.items())),
    }
    write_json(root / MARKER, record)
    (root / IN_PROGRESS).unlink(missing_ok=True)
    return True


def is_current(root: Path, cfg: SynthConfig) -> bool:
    """True when ``root/synthetic.json`` holds ``cfg``'s hash and every folder is complete."""
    try:
        record = json.loads((Path(root) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("hash") != cfg.digest() or (Path(root) / IN_PROGRESS).exists():
        return False
    for rel, count in record.get("files", {}).items():
        path = Path(root) / rel
        n = sum(1 for e in os.scandir(path) if e.is_file()) if path.is_dir() else path.is_file()
        if int(n) != count:
            return False
    return True


def _claim(root: Path, cfg: SynthConfig) -> None:
    """Mark ``root`` as ours (in progress) and remove an older synthetic tree from it."""
    root.mkdir(parents=True, exist_ok=True)
    ours = (root / MARKER).exists() or (root / IN_PROGRESS).exists()
    present = [d for d in OWNED if (root / d).exists()]
    if present and not ours:
        raise DataError(
            f"{root / present[0]} exists but was not written by the synthetic "
            "generator; use an empty folder (or one it wrote) as the synthetic root"
        )
    write_text_atomic(cfg.digest(), root / IN_PROGRESS)
    (root / MARKER).unlink(missing_ok=True)
    (root / META).unlink(missing_ok=True)
    for d in present:
        shutil.rmtree(root / d)


def plan_jobs(cfg: SynthConfig) -> list[Job]:
    """Every ReID image of the selected sets, in a fixed order."""
    pools = make_pools(cfg)
    return [job for name in PLANNERS if name in cfg.sets for job in PLANNERS[name](cfg, pools)]


def set_cameras(cfg: SynthConfig, set_name: str) -> list[Camera]:
    """The cameras of one ReID set: its own (seeded by the set, so sets do not share scenes),
    or with ``test_cameras="market"`` the Market-1501 cameras for the occluded/partial sets."""
    n = cfg.cameras if set_name == "market1501" else SET_CAMERAS[set_name]
    if set_name not in ("market1501", *SELF_CONTAINED) and cfg.test_cameras == "market":
        market = set_cameras(cfg, "market1501")
        return [market[c % len(market)] for c in range(n)]
    code = SET_CODES[set_name]
    return [
        make_camera(np.random.default_rng([cfg.seed, 1, code, c]), cfg.height, cfg.width)
        for c in range(n)
    ]


def render_job(cfg: SynthConfig, job: Job, cams: list[Camera]) -> list[tuple[str, Shot]]:
    """Render one job: (relative path, shot) for each image it writes."""
    rng = np.random.default_rng([cfg.seed, SET_CODES[job.set_name], job.serial])
    ident = job.identity if job.identity is not None else random_identity(rng)
    mode = "partial" if job.mode == "pair" else job.mode
    size = (cfg.height, cfg.width)
    shot = render_shot(rng, ident, cams[job.camera], size, mode, cfg.occlusion, cfg.framing())
    if job.mode == "pair":
        return [(job.paths[0], shot), (job.paths[1], shot.partial())]
    if job.mode == "partial":
        return [(job.paths[0], shot.partial())]
    return [(job.paths[0], shot)]


def _write_shot(root: Path, rel: str, shot: Shot, files: Counter[str]) -> None:
    save_image(root / rel, shot.image)
    label = label_relpath(rel)
    save_label(root / label, shot.label)
    files[str(PurePosixPath(rel).parent)] += 1
    files[str(PurePosixPath(label).parent)] += 1


def _coco_plan(cfg: SynthConfig) -> list[tuple[str, int]]:
    """(split, image id) of every COCO-format image."""
    if "coco_densepose" not in cfg.sets:
        return []
    n_val = max(2, cfg.coco_images // 20)  # a few minival images, so the val split exists
    return [("train", SPLITS["train"][2] + i) for i in range(cfg.coco_images)] + [
        ("minival", SPLITS["minival"][2] + i) for i in range(n_val)
    ]


def _write_coco(
    root: Path, cfg: SynthConfig, plan: list[tuple[str, int]], files: Counter[str], bar: tqdm
) -> None:
    """Render the COCO scenes and write one JSON per split."""
    if not plan:
        return
    cams = coco_cameras(cfg.seed)
    docs: dict[str, tuple[list, list]] = {split: ([], []) for split, _ in plan}
    ann_id = 1
    for split, image_id in plan:
        rng = np.random.default_rng([cfg.seed, SET_CODES["coco_densepose"], image_id])
        scene = render_scene(rng, cams[image_id % len(cams)], cfg.occlusion)
        name = coco_file_name(split, image_id)
        save_image(root / "coco" / SPLITS[split][0] / name, scene.image)
        files[f"coco/{SPLITS[split][0]}"] += 1
        images, anns = docs[split]
        h, w = scene.image.shape[:2]
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        new = scene_annotations(scene, image_id, ann_id)
        anns.extend(new)
        ann_id += len(new)
        bar.update()
    for split, (images, anns) in docs.items():
        write_json(root / "coco" / "annotations" / SPLITS[split][1], coco_document(images, anns))
        files["coco/annotations"] += 1


def _write_meta(root: Path, rows: list[tuple[str, int, str, float, str]]) -> None:
    """Per-image facts (camera, occluder kind/side, visible share of the body, a partial
    crop's source box), atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("path", "camera", "occluder", "visible_fraction", "source_box"))
    writer.writerows(rows)
    write_text_atomic(buf.getvalue(), root / META)
