"""Plan the ReID images of every synthetic set: file names, identities, cameras, modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from reid_datasets.synthetic.config import SynthConfig
from reid_datasets.synthetic.people import Identity, sample_identities
from reid_datasets.synthetic.writers import market_name

MARKET = "Market-1501-v15.09.15"
PARTIAL_REID = "Partial-REID_Dataset"
ILIDS_2018 = "Partial_iLIDS"
ILIDS_2019 = "PartialILIDS"
OCCLUDED_REID = "Occluded_REID"
OCCLUDED_DUKE = "Occluded_Duke"
# Stable codes for seeding: a set's images never change when another set is switched on/off.
SET_CODES = {
    "market1501": 1,
    "partial_reid": 2,
    "partial_ilids_2018": 3,
    "partial_ilids_2019": 4,
    "occluded_reid": 5,
    "coco_densepose": 6,
    "occluded_duke": 7,
}
# Cameras per set: Market has cfg.cameras; the others were shot by a few cameras each.
SET_CAMERAS = {
    "partial_reid": 4,
    "partial_ilids_2018": 4,
    "partial_ilids_2019": 4,
    "occluded_reid": 5,
    "occluded_duke": 8,  # DukeMTMC's 8 cameras
}
# Sets that train and test on themselves: their own cameras whatever ``test_cameras`` says.
SELF_CONTAINED = ("occluded_duke",)


class RealCounts(TypedDict):
    """Identities of a set, or (identities, images) where the two differ."""

    partial_reid: int
    ilids_2018: int
    ilids_2019_q: tuple[int, int]
    ilids_2019_g: tuple[int, int]
    occluded_reid: int


# Real identity/image counts (paper Table 1, DESIGN.md).
REAL: RealCounts = {
    "partial_reid": 60,
    "ilids_2018": 119,
    "ilids_2019_q": (107, 238),
    "ilids_2019_g": (109, 238),
    "occluded_reid": 200,
}


@dataclass(frozen=True)
class Job:
    """One image to render and where to write it.

    Attributes:
        set_name: the set (seeding and cameras).
        serial: index of the job within its set (seeds the image's generator).
        identity: who, or None for a random passer-by (Market distractors and junk).
        camera: camera index within the set.
        mode: a render mode; "pair" writes the occluded image and its partial cut.
        paths: image path(s) relative to the data root.
    """

    set_name: str
    serial: int
    identity: Identity | None
    camera: int
    mode: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Pools:
    """Disjoint identity pools: different people in every split and set."""

    train: list[Identity]
    test: list[Identity]
    partial_reid: list[Identity]
    ilids_2018: list[Identity]
    ilids_2019: list[Identity]
    occluded_reid: list[Identity]
    duke_train: list[Identity]
    duke_test: list[Identity]  # query identities first, then gallery-only ones


# Occluded-Duke (Miao et al., ICCV 2019) against Market-1501: its training ids per Market
# training id (702 / 751), query ids per Market test id (519 / 750), gallery-only ids per query
# id ((1,110 - 519) / 519); and its shares of occluded images (the paper's Table 1: 9% of the
# training set, every query, 10% of the gallery).
DUKE = {"train_ids": 702 / 751, "query_ids": 519 / 750, "gallery_only": 591 / 519}
DUKE_OCCLUDED = {"train": 0.09, "gallery": 0.10}


def duke_sizes(cfg: SynthConfig) -> tuple[int, int, int]:
    """(training ids, query ids, gallery-only ids) of the Occluded-Duke stand-in."""
    query = scaled(cfg.test_ids, DUKE["query_ids"])
    return scaled(cfg.train_ids, DUKE["train_ids"]), query, scaled(query, DUKE["gallery_only"])


def scaled(n: int, scale: float) -> int:
    """A real count scaled down (or up), keeping at least two."""
    return max(2, round(n * scale))


def make_pools(cfg: SynthConfig) -> Pools:
    """Draw every identity at once (any two differ in >= 2 body groups), then split."""
    s = cfg.scale_occluded_sets
    sizes = [
        cfg.train_ids,
        cfg.test_ids,
        scaled(REAL["partial_reid"], s),
        scaled(REAL["ilids_2018"], s),
        scaled(REAL["ilids_2019_g"][0], s),
        scaled(REAL["occluded_reid"], s),
    ]
    if "occluded_duke" in cfg.sets:  # drawn after the others: their people stay the same
        train, query, gallery_only = duke_sizes(cfg)
        sizes += [train, query + gallery_only]
    people = sample_identities(np.random.default_rng([cfg.seed, 0]), sum(sizes))
    bounds = np.cumsum([0, *sizes])
    pools = [people[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return Pools(*pools, *([[]] * (8 - len(pools))))


class _Names:
    """Unique Market-style name parts: per-camera frame counters."""

    def __init__(self, rng: np.random.Generator, cameras: int) -> None:
        self.rng = rng
        self.frames = rng.integers(1, 500, cameras + 1)

    def name(self, pid: int, cam: int) -> str:
        self.frames[cam] += self.rng.integers(1, 40)
        seq, box = int(self.rng.integers(1, 7)), int(self.rng.integers(1, 4))
        return market_name(pid, cam, seq, int(self.frames[cam]), box)


def _id_cameras(rng: np.random.Generator, cfg: SynthConfig, limit: int) -> np.ndarray:
    """Cameras (1-based) an identity appears in: at least two, at most ``limit``."""
    k = int(rng.integers(2, min(cfg.cameras, limit, 4) + 1))
    return rng.choice(np.arange(1, cfg.cameras + 1), size=k, replace=False)


def market_jobs(cfg: SynthConfig, pools: Pools) -> list[Job]:
    """Train (holistic), query and gallery (across cameras), distractors and junk."""
    rng = np.random.default_rng([cfg.seed, 2, SET_CODES["market1501"]])
    names = _Names(rng, cfg.cameras)
    jobs: list[Job] = []

    def add(ident: Identity | None, cam: int, mode: str, folder: str, pid: int) -> None:
        path = f"{MARKET}/{folder}/{names.name(pid, cam)}"
        jobs.append(Job("market1501", len(jobs), ident, cam - 1, mode, (path,)))

    # its own stream: without framing (framed_p 0) every other draw stays as it was
    framed = np.random.default_rng([cfg.seed, 3, SET_CODES["market1501"]])
    for pid, ident in enumerate(pools.train, start=1):
        cams = _id_cameras(rng, cfg, cfg.train_images_per_id)
        for j in range(cfg.train_images_per_id):
            mode = "framed" if cfg.framed_p > 0 and framed.random() < cfg.framed_p else "holistic"
            add(ident, int(cams[j % len(cams)]), mode, "bounding_box_train", pid)
    for pid, ident in enumerate(pools.test, start=cfg.train_ids + 1):
        # The gallery covers every camera of the id, so each query has a match in another one.
        cams = _id_cameras(rng, cfg, cfg.gallery_per_id)
        for j in range(cfg.query_per_id):
            add(ident, int(cams[j % len(cams)]), "holistic", "query", pid)
        for j in range(cfg.gallery_per_id):
            add(ident, int(cams[j % len(cams)]), "holistic", "bounding_box_test", pid)
    for _ in range(cfg.distractors):
        mode = "shifted" if rng.random() < 0.5 else "holistic"
        add(None, int(rng.integers(1, cfg.cameras + 1)), mode, "bounding_box_test", 0)
    for _ in range(cfg.junk):
        add(None, int(rng.integers(1, cfg.cameras + 1)), "junk", "bounding_box_test", -1)
    return jobs


def partial_reid_jobs(cfg: SynthConfig, pools: Pools) -> list[Job]:
    """60 ids x 5 occluded images, their partial cuts, and 5 whole-body images each."""
    jobs: list[Job] = []
    for pid, ident in enumerate(pools.partial_reid, start=1):
        for m in range(1, 6):
            name = f"{pid:03d}_{m:02d}.jpg"
            cam = (pid + m) % 2
            jobs.append(
                Job(
                    "partial_reid",
                    len(jobs),
                    ident,
                    cam,
                    "pair",
                    (
                        f"{PARTIAL_REID}/occluded_body_images/{name}",
                        f"{PARTIAL_REID}/partial_body_images/{name}",
                    ),
                )
            )
            jobs.append(
                Job(
                    "partial_reid",
                    len(jobs),
                    ident,
                    2 + cam,
                    "holistic",
                    (f"{PARTIAL_REID}/whole_body_images/{name}",),
                )
            )
    return jobs


def ilids_2018_jobs(cfg: SynthConfig, pools: Pools) -> list[Job]:
    """One partial probe and one holistic gallery image per id, ``<pid>.jpg``."""
    jobs: list[Job] = []
    for pid, ident in enumerate(pools.ilids_2018, start=1):
        cam = pid % 2
        jobs.append(
            Job(
                "partial_ilids_2018",
                len(jobs),
                ident,
                cam,
                "partial",
                (f"{ILIDS_2018}/Probe/{pid:03d}.jpg",),
            )
        )
        jobs.append(
            Job(
                "partial_ilids_2018",
                len(jobs),
                ident,
                2 + cam,
                "holistic",
                (f"{ILIDS_2018}/Gallery/{pid:03d}.jpg",),
            )
        )
    return jobs


def _spread(total: int, ids: int) -> list[int]:
    """Images per id: ``total`` images over ``ids`` ids, at least one each."""
    total = max(total, ids)
    return [total // ids + (1 if i < total % ids else 0) for i in range(ids)]


def ilids_2019_jobs(cfg: SynthConfig, pools: Pools) -> list[Job]:
    """Partial probes of 107 ids (238 images), holistic gallery of 109 ids (238 images)."""
    s = cfg.scale_occluded_sets
    g_ids = len(pools.ilids_2019)
    q_ids = min(scaled(REAL["ilids_2019_q"][0], s), g_ids)
    q_counts = _spread(scaled(REAL["ilids_2019_q"][1], s), q_ids)
    g_counts = _spread(scaled(REAL["ilids_2019_g"][1], s), g_ids)
    jobs: list[Job] = []
    for i, ident in enumerate(pools.ilids_2019):
        pid = i + 1
        for folder, count, mode, cam0 in (
            ("Probe", q_counts, "partial", 0),
            ("Gallery", g_counts, "holistic", 2),
        ):
            for m in range(count[i] if i < len(count) else 0):
                cam = cam0 + (pid + m) % 2
                jobs.append(
                    Job(
                        "partial_ilids_2019",
                        len(jobs),
                        ident,
                        cam,
                        mode,
                        (f"{ILIDS_2019}/{folder}/{pid:04d}_{m + 1:02d}.jpg",),
                    )
                )
    return jobs


def occluded_reid_jobs(cfg: SynthConfig, pools: Pools) -> list[Job]:
    """200 ids x 5 occluded query images and 5 whole-body gallery images, flat ``NNN_MM.jpg``."""
    jobs: list[Job] = []
    for pid, ident in enumerate(pools.occluded_reid, start=1):
        for m in range(1, 6):
            name = f"{pid:03d}_{m:02d}.jpg"
            cam = (pid + m) % 5
            jobs.append(
                Job(
                    "occluded_reid",
                    len(jobs),
                    ident,
                    cam,
                    "occluded",
                    (f"{OCCLUDED_REID}/occluded_body_images/{name}",),
                )
            )
            jobs.append(
                Job(
                    "occluded_reid",
                    len(jobs),
                    ident,
                    (cam + 1 + m % 4) % 5,
                    "holistic",
                    (f"{OCCLUDED_REID}/whole_body_images/{name}",),
                )
            )
    return jobs


def occluded_duke_jobs(cfg: SynthConfig, pools: Pools) -> list[Job]:
    """The Occluded-Duke stand-in: its own 8 cameras and people, Duke names
    (``0001_c2_f0046182.jpg``), occluded people in a share of the training set and the gallery
    and in every query; gallery-only identities as in the release."""
    rng = np.random.default_rng([cfg.seed, 2, SET_CODES["occluded_duke"]])
    cams_n = SET_CAMERAS["occluded_duke"]
    frames = rng.integers(1, 50000, cams_n + 1)
    jobs: list[Job] = []

    def add(ident: Identity, cam: int, mode: str, folder: str, pid: int) -> None:
        frames[cam] += rng.integers(1, 400)
        path = f"{OCCLUDED_DUKE}/{folder}/{pid:04d}_c{cam}_f{int(frames[cam]):07d}.jpg"
        jobs.append(Job("occluded_duke", len(jobs), ident, cam - 1, mode, (path,)))

    def cameras() -> np.ndarray:
        k = int(rng.integers(2, 5))
        return rng.choice(np.arange(1, cams_n + 1), size=k, replace=False)

    def occluded(share: float) -> str:
        return "occluded" if rng.random() < share else "holistic"

    for pid, ident in enumerate(pools.duke_train, start=1):
        cams = cameras()
        for j in range(cfg.train_images_per_id):
            add(
                ident,
                int(cams[j % len(cams)]),
                occluded(DUKE_OCCLUDED["train"]),
                "bounding_box_train",
                pid,
            )
    _, query_ids, _ = duke_sizes(cfg)
    for i, ident in enumerate(pools.duke_test):
        pid = len(pools.duke_train) + 1 + i
        cams = cameras()
        if i < query_ids:  # every query occluded, each with a match in another camera
            for j in range(cfg.query_per_id):
                add(ident, int(cams[j % len(cams)]), "occluded", "query", pid)
        for j in range(cfg.gallery_per_id):
            add(
                ident,
                int(cams[j % len(cams)]),
                occluded(DUKE_OCCLUDED["gallery"]),
                "bounding_box_test",
                pid,
            )
    return jobs


PLANNERS = {
    "market1501": market_jobs,
    "partial_reid": partial_reid_jobs,
    "partial_ilids_2018": ilids_2018_jobs,
    "partial_ilids_2019": ilids_2019_jobs,
    "occluded_reid": occluded_reid_jobs,
    "occluded_duke": occluded_duke_jobs,
}
