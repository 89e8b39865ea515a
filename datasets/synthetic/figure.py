"""Draw an articulated figure: 14 DensePose part labels and its colours, in one pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from reid_datasets.synthetic.limbs import (
    HEAD,
    TORSO,
    Frame,
    Shape,
    arm,
    ellipse,
    leg,
    part_code,
    segment,
)
from reid_datasets.synthetic.people import (
    BAG_M,
    BAGS,
    HAIR_M,
    HAIR_STYLES,
    HAT_M,
    PATTERNS,
    SKIN_M,
    TOP2_M,
    TOP_M,
    TROUSER_M,
    Identity,
    Pose,
)


@dataclass(frozen=True)
class Figure:
    """A drawn person on a canvas.

    Attributes:
        part14: [H, W] uint8 DensePose part labels (0 = not this person).
        rgb: [H, W, 3] float32 colours (meaningful where part14 > 0).
    """

    part14: np.ndarray
    rgb: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """[H, W] bool: the person's pixels."""
        return self.part14 > 0


def _band(fr: Frame, heights: tuple[float, ...], widths: tuple, z: float, code: int) -> Shape:
    """A torso-like polygon through (height, lateral half-width, depth half-width) rows."""
    left, right = [], []
    for h, (w, d) in zip(heights, widths, strict=True):
        x, y, _ = fr.point(0.0, 0.0, h)
        hw = fr.half_width(w, d)
        left.append((x - hw, y))
        right.append((x + hw, y))
    return Shape(z, "poly", tuple(left + right[::-1]), code)


def _torso(ident: Identity, fr: Frame) -> list[Shape]:
    b = ident.build
    rows = {
        0.835: (0.075 * b, 0.045),
        0.81: (0.108 * b, 0.06),
        0.65: (0.088 * b, 0.055),
        0.56: (0.09 * b, 0.058),
        0.48: (0.092 * b, 0.06),
    }
    hs = tuple(rows)
    shapes = [
        _band(fr, hs, tuple(rows.values()), 0.0, part_code(TOP_M, TORSO)),
        _band(fr, hs[3:], tuple(rows[h] for h in hs[3:]), 0.0, part_code(TROUSER_M, TORSO)),
    ]
    pattern = PATTERNS[ident.pattern]
    if pattern == "two_tone":
        shapes.append(
            _band(fr, hs[2:4], tuple(rows[h] for h in hs[2:4]), 0.0, part_code(TOP2_M, TORSO))
        )
    if pattern == "logo" and np.cos(fr.facing) > 0.3:
        x, y, _ = fr.point(0.0, 0.06 * b, 0.72)
        w = fr.half_width(0.04 * b, 0.0) + 0.5
        shapes.append(
            Shape(
                0.001,
                "poly",
                (
                    (x - w, y - 0.04 * fr.hp),
                    (x + w, y - 0.04 * fr.hp),
                    (x + w, y + 0.04 * fr.hp),
                    (x - w, y + 0.04 * fr.hp),
                ),
                part_code(TOP2_M, TORSO),
            )
        )
    # Neck: skin, labelled head (DensePose has no neck part).
    x0, y0, _ = fr.point(0.0, 0.0, 0.885)
    x1, y1, _ = fr.point(0.0, 0.0, 0.8)
    shapes += segment(
        (x0, y0), (x1, y1), 0.045 * fr.hp, 0.05 * fr.hp, 0.0005, part_code(SKIN_M, HEAD)
    )
    return shapes


def _head(ident: Identity, fr: Frame) -> list[Shape]:
    hp, c, sn = fr.hp, np.cos(fr.facing), np.sin(fr.facing)
    x, y, _ = fr.point(0.0, 0.0, 0.93)
    rx, ry = 0.052 * hp, 0.066 * hp
    style = HAIR_STYLES[ident.hair_style]
    hair, skin = part_code(HAIR_M, HEAD), part_code(SKIN_M, HEAD)
    shapes = []
    if style == "long":  # hangs behind the head down to the shoulders
        bx, by, bz = fr.point(0.0, -0.045, 0.86)
        shapes.append(ellipse(bx, by, rx * 1.1, 0.085 * hp, bz * 0.5 + 0.02, hair))
    shapes.append(ellipse(x, y, rx, ry, 0.03, hair))
    if c > -0.35:  # the face shows unless the person walks away from the camera
        fx = x + sn * rx * 0.35
        frx = rx * (0.6 + 0.3 * max(c, 0.0))
        shapes.append(ellipse(fx, y + 0.22 * ry, frx, 0.78 * ry, 0.031, skin))
    if style == "bun":
        bx, by, _ = fr.point(0.0, -0.04, 0.985)
        shapes.append(ellipse(bx, by, 0.026 * hp, 0.026 * hp, 0.029, hair))
    if style == "hat":
        hat = part_code(HAT_M, HEAD)
        shapes.append(
            Shape(0.032, "chord", (x - rx * 1.05, y - ry * 1.05, x + rx * 1.05, y + ry * 0.6), hat)
        )
        px, py, _ = fr.point(0.0, 0.075, 0.955)
        shapes.append(
            ellipse(
                (x + px) / 2, py, abs(px - x) / 2 + rx * 0.5 * abs(c) + 1, 0.012 * hp, 0.033, hat
            )
        )
    return shapes


def _bag(ident: Identity, fr: Frame) -> list[Shape]:
    kind, b, hp = BAGS[ident.bag], ident.build, fr.hp
    code = part_code(BAG_M, TORSO)  # bags are carried on the torso: labelled torso
    if kind == "backpack":
        x, y, z = fr.point(0.0, -0.1 * b, 0.67)
        w, h = fr.half_width(0.075 * b, 0.045), 0.1 * hp
        shapes = [
            Shape(z, "poly", ((x - w, y - h), (x + w, y - h), (x + w, y + h), (x - w, y + h)), code)
        ]
        if np.cos(fr.facing) > 0.3:  # straps over the shoulders
            for sg in (-1.0, 1.0):
                shapes += segment(
                    fr.point(sg * 0.06 * b, 0.06, 0.81),
                    fr.point(sg * 0.065 * b, 0.06, 0.62),
                    0.018 * hp,
                    0.018 * hp,
                    0.002,
                    code,
                )
        return shapes
    if kind == "shoulder":
        sg = 1.0 if ident.bag_colour % 2 else -1.0
        x, y, z = fr.point(sg * 0.12 * b, 0.0, 0.5)
        w, h = fr.half_width(0.03, 0.06) + 0.02 * hp, 0.05 * hp
        strap = segment(
            fr.point(-sg * 0.07 * b, 0.0, 0.82), (x, y - h), 0.014 * hp, 0.014 * hp, 0.002, code
        )
        return strap + [
            Shape(
                z + 0.003,
                "poly",
                ((x - w, y - h), (x + w, y - h), (x + w, y + h), (x - w, y + h)),
                code,
            )
        ]
    return []


def draw_codes(
    ident: Identity, pose: Pose, size: tuple[int, int], foot: tuple[float, float], height: float
) -> np.ndarray:
    """Draw the figure as ``material << 4 | part14`` codes.

    Args:
        ident: who is drawn.
        pose: how.
        size: canvas (height, width) in pixels.
        foot: (x, y) pixel position of the point between the feet on the ground.
        height: body height in pixels (scaled by the identity's stature).
    """
    fr = Frame(foot[0], foot[1], height * ident.stature, pose.facing, pose.lean)
    shapes = _torso(ident, fr) + _head(ident, fr) + _bag(ident, fr)
    for side in ("r", "l"):
        shapes += arm(ident, pose, fr, side) + leg(ident, pose, fr, side)
    canvas = Image.new("L", (size[1], size[0]), 0)
    draw = ImageDraw.Draw(canvas)
    for sh in sorted(shapes, key=lambda s: s.z):  # painter's order: far to near
        if sh.kind == "poly":
            draw.polygon(sh.xy, fill=sh.code)
        elif sh.kind == "ellipse":
            draw.ellipse(sh.xy, fill=sh.code)
        else:
            draw.chord(sh.xy, 180, 360, fill=sh.code)
    codes = np.asarray(canvas)
    if PATTERNS[ident.pattern] == "stripes":
        period = max(2, round(0.03 * fr.hp))
        rows = ((np.arange(size[0]) - int(foot[1])) // period) % 2 == 1
        top = (codes >> 4) == TOP_M
        codes = np.where(top & rows[:, None], (TOP2_M << 4) | (codes & 15), codes)
    return codes.astype(np.uint8)


def draw_person(
    ident: Identity, pose: Pose, size: tuple[int, int], foot: tuple[float, float], height: float
) -> Figure:
    """Draw a person; see ``draw_codes`` for the arguments."""
    codes = draw_codes(ident, pose, size, foot, height)
    # One colour per code (material << 4 | part): far-side limbs are drawn darker.
    far = (10, 12, 3, 7, 9, 4) if np.sin(pose.facing) > 0 else (11, 13, 2, 6, 8, 5)
    part_shade = np.ones(16, dtype=np.float32)
    part_shade[list(far)] = 0.85
    colours = np.zeros((16, 3), dtype=np.float32)
    colours[: len(ident.colours)] = ident.colours
    lut = (colours[:, None, :] * part_shade[None, :, None]).reshape(256, 3)
    rgb = lut[codes]  # [H, W, 3]
    rgb *= np.linspace(1.08, 0.85, size[0], dtype=np.float32)[:, None, None]  # top-lit
    return Figure(part14=codes & 15, rgb=rgb)
