"""Occluders (plants, boxes, cars, other people) that hide a chosen fraction of a body."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from reid_datasets.synthetic.figure import draw_person
from reid_datasets.synthetic.people import CLOTH, random_identity, walking_pose

BOTTOM_KINDS = ("plant", "box", "car")
SIDE_KINDS = ("person", "plant")


@dataclass(frozen=True)
class Occluder:
    """An occluder drawn on a canvas.

    Attributes:
        rgb: [H, W, 3] float32 colours (meaningful where mask).
        mask: [H, W] bool, True where it hides what is behind it.
        kind: "plant", "box", "car" or "person".
        side: "bottom", "left" or "right": where it enters the body from.
    """

    rgb: np.ndarray
    mask: np.ndarray
    kind: str
    side: str


def occlusion_fraction(rng: np.random.Generator, mean: float, spread: float = 0.15) -> float:
    """Fraction of the body to hide: uniform in [mean - spread, mean + spread], clipped."""
    return float(np.clip(rng.uniform(mean - spread, mean + spread), 0.05, 0.85))


def _edge(body: np.ndarray, fraction: float, side: str) -> int:
    """Row (bottom) or column (left/right) beyond which ``fraction`` of the body lies."""
    counts = body.sum(axis=1 if side == "bottom" else 0).astype(np.float64)
    if side in ("bottom", "right"):
        counts = counts[::-1]
    cum = np.cumsum(counts) / max(counts.sum(), 1.0)
    k = int(np.searchsorted(cum, fraction))  # first index where the hidden share >= fraction
    n = len(counts)
    return n - 1 - k if side in ("bottom", "right") else k


class _Painter:
    """Draws filled shapes into a colour image and a mask at once."""

    def __init__(self, height: int, width: int) -> None:
        self.rgb = Image.new("RGB", (width, height))
        self.mask = Image.new("L", (width, height))
        self._d = ImageDraw.Draw(self.rgb)
        self._m = ImageDraw.Draw(self.mask)

    def shape(self, kind: str, xy: tuple, colour: tuple) -> None:
        if kind in ("rectangle", "ellipse"):  # PIL wants x0 <= x1 and y0 <= y1
            x0, y0, x1, y1 = xy
            xy = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        getattr(self._d, kind)(xy, fill=tuple(int(c) for c in colour))
        getattr(self._m, kind)(xy, fill=255)

    def done(self, kind: str, side: str) -> Occluder:
        return Occluder(
            np.asarray(self.rgb, dtype=np.float32), np.asarray(self.mask) > 0, kind, side
        )


def _green(rng: np.random.Generator) -> tuple[int, int, int]:
    return int(rng.integers(25, 90)), int(rng.integers(80, 160)), int(rng.integers(25, 80))


def _plant(p: _Painter, rng: np.random.Generator, box: tuple[float, ...], top: float) -> None:
    """A bush in a pot filling the box (x0, y0, x1, y1) with a leafy top at ``top``."""
    x0, _, x1, y1 = box
    r = max(2.0, (x1 - x0) / rng.uniform(4, 7))
    pot_top = y1 - max(3.0, (y1 - top) * rng.uniform(0.15, 0.3))
    p.shape("rectangle", (x0, top + r, x1, pot_top + 2), _green(rng))
    for cx in np.arange(x0, x1 + r, r * 0.9):
        cy = top + r + rng.uniform(-0.3, 0.3) * r
        p.shape("ellipse", (cx - r, cy - r, cx + r, cy + r), _green(rng))
    pot = (150 + int(rng.integers(-30, 30)), 80 + int(rng.integers(-20, 20)), 50)
    inset = (x1 - x0) * 0.12
    p.shape("polygon", ((x0, pot_top), (x1, pot_top), (x1 - inset, y1), (x0 + inset, y1)), pot)


def _box(p: _Painter, rng: np.random.Generator, box: tuple[float, ...]) -> None:
    x0, y0, x1, y1 = box
    colour = (170, 130, 85) if rng.random() < 0.6 else CLOTH[int(rng.integers(len(CLOTH)))][0]
    p.shape("rectangle", (x0, y0, x1, y1), colour)
    dark = tuple(int(c * 0.7) for c in colour)
    p.shape("rectangle", (x0, y0, x1, y0 + max(1.0, (y1 - y0) * 0.08)), dark)
    if rng.random() < 0.5:  # a second box on the stack or parcel tape
        ym = (y0 + y1) / 2
        p.shape("rectangle", (x0, ym, x1, ym + 1), dark)


def _car(p: _Painter, rng: np.random.Generator, width: int, top: float, bottom: float) -> None:
    colour = CLOTH[int(rng.integers(len(CLOTH)))][0] if rng.random() < 0.7 else (190, 190, 195)
    body_top = top + (bottom - top) * 0.35
    inset = width * rng.uniform(0.05, 0.2)
    p.shape(
        "polygon",
        (
            (-2, body_top),
            (inset, top),
            (width - inset, top),
            (width + 2, body_top),
            (width + 2, bottom),
            (-2, bottom),
        ),
        colour,
    )
    glass = (int(rng.integers(40, 90)), int(rng.integers(60, 100)), int(rng.integers(80, 120)))
    g0 = top + (body_top - top) * 0.2
    p.shape(
        "polygon",
        ((inset + 3, g0), (width - inset - 3, g0), (width, body_top - 1), (0, body_top - 1)),
        glass,
    )
    r = max(3.0, (bottom - top) * 0.22)
    for cx in (width * 0.15, width * 0.85):
        p.shape("ellipse", (cx - r, bottom - r, cx + r, bottom + r), (20, 20, 20))


def _person(
    p: _Painter,
    rng: np.random.Generator,
    size: tuple[int, int],
    edge: int,
    side: str,
    foot_y: float,
    body_h: float,
) -> None:
    """Another pedestrian, closer to the camera, whose near edge reaches column ``edge``."""
    h = body_h * rng.uniform(1.0, 1.25)
    half = 0.11 * h
    cx = edge - half if side == "left" else edge + half
    fig = draw_person(
        random_identity(rng),
        walking_pose(rng, np.pi / 2, 0.4),
        size,
        (cx, foot_y + body_h * rng.uniform(0.02, 0.12)),
        h,
    )
    m = Image.fromarray(fig.mask.astype(np.uint8) * 255)
    p.rgb.paste(Image.fromarray(np.clip(fig.rgb, 0, 255).astype(np.uint8)), (0, 0), m)
    p.mask.paste(255, (0, 0), m)


def draw_occluder(
    rng: np.random.Generator,
    body: np.ndarray,
    fraction: float,
    foot_y: float,
    body_h: float,
    kind: str | None = None,
    side: str | None = None,
) -> Occluder:
    """Draw an occluder that hides about ``fraction`` of the ``body`` mask.

    Args:
        rng: the random generator.
        body: [H, W] bool mask of the person to occlude.
        fraction: target share of the body pixels to hide.
        foot_y: ground row of the person (occluders stand on the ground).
        body_h: the person's height in pixels (sets the scale of another person).
        kind: force a kind (else bottom kinds mostly, a side kind 30% of the time).
        side: force "bottom", "left" or "right".
    """
    height, width = body.shape
    if side is None:
        side = "bottom" if rng.random() < 0.7 else ("left" if rng.random() < 0.5 else "right")
    if kind is None:
        kinds = BOTTOM_KINDS if side == "bottom" else SIDE_KINDS
        kind = kinds[int(rng.integers(len(kinds)))]
    p = _Painter(height, width)
    edge = _edge(body, fraction, side)
    cols = np.flatnonzero(body.any(axis=0))
    bx0, bx1 = (cols.min(), cols.max()) if len(cols) else (0, width - 1)
    ground = min(height + 2.0, foot_y + rng.uniform(0.0, 0.06) * height)
    if side == "bottom":
        x0, x1 = bx0 - rng.uniform(1, 0.25 * width), bx1 + rng.uniform(1, 0.25 * width)
        if kind == "plant":
            _plant(p, rng, (x0, edge, x1, ground), edge)
        elif kind == "box":
            _box(p, rng, (x0, edge, x1, ground + 2))
        else:
            _car(p, rng, width, edge, ground + 2)
    elif kind == "person":
        _person(p, rng, (height, width), edge, side, foot_y, body_h)
    else:  # a tall plant at the side
        x0, x1 = (-2.0, float(edge)) if side == "left" else (float(edge), width + 2.0)
        top = rng.uniform(0.0, 0.3) * height
        _plant(p, rng, (x0, top, x1, ground), top)
    return p.done(kind, side)
