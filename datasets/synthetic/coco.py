"""DensePose-COCO-format parsing scenes: 1-3 people in diverse poses, some occluded or cut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reid_datasets.synthetic.cameras import Camera, background, develop, make_camera
from reid_datasets.synthetic.figure import draw_person
from reid_datasets.synthetic.occluders import draw_occluder
from reid_datasets.synthetic.people import free_pose, random_identity
from reid_datasets.synthetic.writers import coco_annotation

SCENE_SIZE = (192, 256)  # (height, width): wider than a ReID crop, like a COCO photo
TRUNCATED = 0.4  # fraction of people whose feet (and more) fall below the frame
MIN_VISIBLE = 150  # pixels; fainter people are drawn but not annotated (as in DensePose-COCO)
SPLITS = {
    "train": ("train2014", "densepose_coco_2014_train.json", 1),
    "minival": ("val2014", "densepose_coco_2014_minival.json", 1_000_001),
}


@dataclass(frozen=True)
class Scene:
    """One COCO-style image.

    Attributes:
        image: [H, W, 3] uint8.
        people: one [H, W] uint8 14-part map per drawn person, of its visible pixels only
            (nearest first is not implied; order is drawing order, far to near).
    """

    image: np.ndarray
    people: tuple[np.ndarray, ...]


def scene_cameras(seed: int, n: int = 6) -> list[Camera]:
    """The cameras COCO scenes are shot with (scene-sized panoramas)."""
    return [make_camera(np.random.default_rng([seed, 1, 6, c]), *SCENE_SIZE) for c in range(n)]


def render_scene(rng: np.random.Generator, cam: Camera, occlusion: float) -> Scene:
    """Draw 1-3 people (far ones smaller and higher), each possibly behind an occluder or cut.

    Args:
        rng: the scene's own generator.
        cam: the camera (background, light, noise).
        occlusion: mean occluded fraction for the occluded people.
    """
    height, width = SCENE_SIZE
    img = background(cam, rng, height, width)
    n = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
    # ground rows: far (small y) drawn first. As in DensePose-COCO, many people are cut by the
    # frame: feet below the bottom edge (TRUNCATED of them) leave only the upper body or the
    # head and torso in the picture, and people near the sides lose an arm or a flank.
    cut = rng.random(n) < TRUNCATED
    feet = np.sort(np.where(cut, rng.uniform(1.05, 1.6, n), rng.uniform(0.55, 1.0, n)))
    owner = np.zeros((height, width), dtype=np.int16)  # which person (1-based) owns a pixel
    parts = np.zeros((height, width), dtype=np.uint8)
    for k, fy in enumerate(feet, start=1):
        foot_y = height * fy
        body_h = height * fy * rng.uniform(0.45, 0.95)
        cx = rng.uniform(-0.02, 1.02) * width
        fig = draw_person(random_identity(rng), free_pose(rng), SCENE_SIZE, (cx, foot_y), body_h)
        img = np.where(fig.mask[..., None], fig.rgb, img)
        owner = np.where(fig.mask, k, owner)
        parts = np.where(fig.mask, fig.part14, parts)
        if rng.random() < 0.35 and fig.mask.any():
            frac = float(np.clip(rng.uniform(occlusion - 0.25, occlusion + 0.2), 0.05, 0.8))
            occ = draw_occluder(rng, fig.mask, frac, foot_y, body_h)
            img = np.where(occ.mask[..., None], occ.rgb, img)
            owner = np.where(occ.mask, 0, owner)
    people = tuple(np.where(owner == k, parts, 0).astype(np.uint8) for k in range(1, n + 1))
    return Scene(develop(cam, rng, img), people)


def scene_annotations(scene: Scene, image_id: int, first_ann_id: int) -> list[dict[str, Any]]:
    """COCO annotations of the people in a scene who show at least MIN_VISIBLE pixels."""
    anns: list[dict[str, Any]] = []
    for person in scene.people:
        if int((person > 0).sum()) < MIN_VISIBLE:
            continue
        ann = coco_annotation(first_ann_id + len(anns), image_id, person)
        if ann is not None:
            anns.append(ann)
    return anns


def coco_file_name(split: str, image_id: int) -> str:
    """``COCO_train2014_000000000001.jpg`` style name of an image of a split."""
    return f"COCO_{SPLITS[split][0]}_{image_id:012d}.jpg"
