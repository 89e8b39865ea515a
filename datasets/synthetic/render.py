"""Render one ReID image (holistic, occluded or partial) with its exact 7-part label map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from reid_datasets.parts import densepose14_to_7
from reid_datasets.synthetic.cameras import Camera, background, develop
from reid_datasets.synthetic.figure import draw_person
from reid_datasets.synthetic.occluders import draw_occluder, occlusion_fraction
from reid_datasets.synthetic.people import Identity, walking_pose

MODES = ("holistic", "framed", "occluded", "partial", "shifted", "junk")


@dataclass(frozen=True)
class Framing:
    """How a detector box frames a person ("framed" mode): the framing of real training boxes.

    Real detector boxes (Market-1501's DPM boxes, CUHK03's, MSMT17's Faster R-CNN boxes) leave
    loose margins or cut tight, sit off-centre, and end at the knees or the waist when the
    detector or the image border cuts the person; a loader resizes each box to the input size.
    The test sets keep their cameras' own framing; only training images are framed so.

    Attributes:
        fill: (low, high) person height as a fraction of the box height.
        offset: standard deviation of the person's horizontal offset (fraction of the width).
        cut_p: share of boxes cut at the bottom (then resized back to the input, as a loader
            resizes a truncated detector box).
        cut: (low, high) fraction of the body height such a box keeps, from the head down.
        cut_tight_p: share of the cut boxes that also hug the kept body across (a detector box
            drawn around a truncated person), so the resize zooms the person both ways.
    """

    fill: tuple[float, float] = (0.45, 1.0)
    offset: float = 0.12
    cut_p: float = 0.2
    cut: tuple[float, float] = (0.45, 0.85)
    cut_tight_p: float = 0.0


@dataclass(frozen=True)
class Shot:
    """One rendered ReID image.

    Attributes:
        image: [H, W, 3] uint8 RGB.
        label: [H, W] uint8 7-part label (0 background or hidden).
        part14: [H, W] uint8 DensePose 14-part label of the visible body.
        body_pixels: body pixels before occlusion (0 for junk).
        occluder: occluder kind ("" when none) and side, as "kind/side".
        visible_box: (y0, y1, x0, x1) of the visible body beyond the occluder ("partial" mode).
        source_box: for a partial crop (``partial()``), the (y0, y1, x0, x1) it was cut from
            in its source image: where it sits at native scale.
    """

    image: np.ndarray
    label: np.ndarray
    part14: np.ndarray
    body_pixels: int
    occluder: str = ""
    visible_box: tuple[int, int, int, int] | None = None
    source_box: tuple[int, int, int, int] | None = None

    @property
    def visible_fraction(self) -> float:
        """Share of the body still visible (1.0 without occlusion)."""
        return float((self.part14 > 0).sum()) / max(self.body_pixels, 1)

    def partial(self) -> Shot:
        """The shot cut to ``visible_box`` (a partial image of varied size)."""
        assert self.visible_box is not None, "only 'partial' shots have a visible box"
        y0, y1, x0, x1 = self.visible_box
        return Shot(
            self.image[y0:y1, x0:x1],
            self.label[y0:y1, x0:x1],
            self.part14[y0:y1, x0:x1],
            self.body_pixels,
            self.occluder,
            source_box=self.visible_box,
        )


def render_shot(
    rng: np.random.Generator,
    ident: Identity,
    cam: Camera,
    size: tuple[int, int],
    mode: str = "holistic",
    occlusion: float = 0.4,
    framing: Framing | None = None,
) -> Shot:
    """Render ``ident`` as seen by ``cam``.

    Args:
        rng: the image's own random generator (one per image keeps generation order-free).
        ident: who.
        cam: which camera (scene, view, scale, light).
        size: (height, width) of the image.
        mode: "holistic", "occluded" (an occluder hides about ``occlusion`` of the body),
            "partial" (occluded mostly from the bottom, with ``visible_box`` set so that
            ``shot.partial()`` cuts it to the visible region), "shifted" (a badly framed
            person, for distractors), "junk" (background with at most a fragment of a body) or
            "framed" (a holistic person framed like a detector box: ``framing``).
        occlusion: mean occluded fraction for "occluded" and "partial".
        framing: the box framing of "framed" shots (default ``Framing()``).
    """
    assert mode in MODES, f"unknown render mode {mode!r}"
    height, width = size
    img = background(cam, rng, height, width)
    body_h = height * rng.uniform(*cam.scale)
    cx = width * (0.5 + rng.normal(0.0, cam.jitter))
    foot_y = height * rng.uniform(0.95, 0.99)
    stature = ident.stature
    if mode == "framed":  # a detector box: loose or tight, off-centre (the camera's view aside)
        framing = framing or Framing()
        body_h = height * rng.uniform(*framing.fill) / stature
        cx = width * (0.5 + rng.normal(0.0, framing.offset))
        top_room = max(body_h * stature, 0.0)
        foot_y = (
            height * 0.99 if top_room >= height * 0.99 else rng.uniform(top_room, height * 0.99)
        )
    if mode == "shifted":
        cx += width * rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.45)
        body_h *= rng.uniform(0.8, 1.4)
    if mode == "junk":  # zoomed-in fragment or empty background
        body_h *= rng.uniform(1.5, 3.0) if rng.random() < 0.5 else 0.0
        foot_y += body_h * rng.uniform(0.2, 0.6)
    if body_h == 0.0:
        part14 = np.zeros(size, dtype=np.uint8)
        return Shot(develop(cam, rng, img), part14, part14, 0)
    pose = walking_pose(rng, cam.facing, cam.facing_spread)
    fig = draw_person(ident, pose, size, (cx, foot_y), body_h)
    img = np.where(fig.mask[..., None], fig.rgb, img)
    part14, body_pixels, tag = fig.part14, int(fig.mask.sum()), ""
    if mode in ("occluded", "partial"):
        frac = occlusion_fraction(rng, occlusion)
        side = "bottom" if mode == "partial" and rng.random() < 0.85 else None
        occ = draw_occluder(rng, fig.mask, frac, foot_y, body_h * ident.stature, side=side)
        img = np.where(occ.mask[..., None], occ.rgb, img)
        part14 = np.where(occ.mask, 0, part14).astype(np.uint8)
        tag = f"{occ.kind}/{occ.side}"
    shot = Shot(develop(cam, rng, img), densepose14_to_7(part14), part14, body_pixels, tag)
    if mode == "framed" and framing is not None and rng.random() < framing.cut_p:
        top = max(foot_y - body_h * stature, 0.0)
        y_cut = int(round(top + rng.uniform(*framing.cut) * body_h * stature))
        tight = framing.cut_tight_p > 0 and rng.random() < framing.cut_tight_p
        shot = _cut_bottom(shot, y_cut, _body_columns(rng, shot.part14[:y_cut]) if tight else None)
    if mode == "partial":
        box = _visible_box(rng, shot.part14, occ.mask, occ.side)
        shot = Shot(shot.image, shot.label, shot.part14, body_pixels, tag, box)
    return shot


def _body_columns(rng: np.random.Generator, part14: np.ndarray) -> tuple[int, int] | None:
    """(x0, x1) around the body's columns with a 0-3 pixel margin each side (at least 16
    wide), as ``_visible_box`` frames a partial crop; None when no body is shown."""
    cols = np.flatnonzero(part14.any(axis=0))
    if not len(cols):
        return None
    width = part14.shape[1]
    m = rng.integers(0, 4, 2)
    x0, x1 = max(int(cols.min() - m[0]), 0), min(int(cols.max() + 1 + m[1]), width)
    if x1 - x0 < 16:
        x0 = max(min(x0, width - 16), 0)
        x1 = min(x0 + 16, width)
    return x0, x1


def _cut_bottom(shot: Shot, y_cut: int, columns: tuple[int, int] | None = None) -> Shot:
    """The shot's rows above ``y_cut`` (at least 16), and ``columns`` (x0, x1) when given,
    resized back to its size, as a loader resizes a detector box that ends at the knees or the
    waist to the input."""
    height, width = shot.label.shape
    y_cut = min(max(y_cut, 16), height)
    x0, x1 = columns or (0, width)
    box = (slice(0, y_cut), slice(x0, x1))
    image = Image.fromarray(shot.image[box]).resize((width, height), Image.Resampling.BILINEAR)
    labels = [
        np.asarray(Image.fromarray(a[box]).resize((width, height), Image.Resampling.NEAREST))
        for a in (shot.label, shot.part14)
    ]
    return Shot(np.asarray(image), labels[0], labels[1], shot.body_pixels, shot.occluder)


def _visible_box(
    rng: np.random.Generator, part14: np.ndarray, occ: np.ndarray, side: str
) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) around the visible body, beyond the occluder's reach."""
    height, width = occ.shape
    y0, y1, x0, x1 = 0, height, 0, width
    if side == "bottom":
        rows = np.flatnonzero(occ.any(axis=1))
        y1 = int(rows.min()) if len(rows) else height
    elif side == "left":
        cols = np.flatnonzero(occ.any(axis=0))
        x0 = int(cols.max()) + 1 if len(cols) else 0
    else:
        cols = np.flatnonzero(occ.any(axis=0))
        x1 = int(cols.min()) if len(cols) else width
    body = part14[y0:y1, x0:x1] > 0
    if body.any():  # tighten to the body with a small random margin
        rows, cols = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
        m = rng.integers(0, 4, 4)
        y0, y1 = max(y0, y0 + rows.min() - m[0]), min(y1, y0 + rows.max() + 1 + m[1])
        x0, x1 = max(x0, x0 + cols.min() - m[2]), min(x1, x0 + cols.max() + 1 + m[3])
    # Keep at least 16x16 pixels so every image stays readable.
    y1, x1 = max(y1, min(height, y0 + 16)), max(x1, min(width, x0 + 16))
    y0, x0 = min(y0, y1 - 16), min(x0, x1 - 16)
    return int(max(y0, 0)), int(y1), int(max(x0, 0)), int(x1)
