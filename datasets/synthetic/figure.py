"""Draw an articulated figure: 14 DensePose part labels and its colours, in one pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from datasets.synthetic.people import (
    BAG_M,
    BAGS,
    HAIR_M,
    HAIR_STYLES,
    HAT_M,
    PATTERNS,
    SHOE_M,
    SKIN_M,
    SLEEVES,
    TOP2_M,
    TOP_M,
    TROUSER_M,
    TROUSERS,
    Identity,
    Pose,
)

# DensePose part codes (datasets/parts.py order, 1-based), per side where it has one.
TORSO, HEAD = 1, 14
HAND = {"r": 2, "l": 3}
FOOT = {"r": 5, "l": 4}
UPPER_LEG = {"r": 6, "l": 7}
LOWER_LEG = {"r": 8, "l": 9}
UPPER_ARM = {"r": 11, "l": 10}
LOWER_ARM = {"r": 13, "l": 12}
SIDE = {"r": 1.0, "l": -1.0}  # lateral sign: a person's right is +s


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


@dataclass(frozen=True)
class _Frame:
    """Projects body coordinates (lateral s, forward f, height h; body-height units) to pixels."""

    cx: float
    fy: float
    hp: float
    facing: float
    lean: float

    def point(self, s: float, f: float, h: float) -> tuple[float, float, float]:
        c, sn = np.cos(self.facing), np.sin(self.facing)
        f = f + self.lean * max(0.0, h - 0.5)
        x = s * -c + f * sn  # right axis (-cos, sin), forward axis (sin, cos) in (x, depth)
        z = s * sn + f * c
        return self.cx + self.hp * x, self.fy - self.hp * h, z

    def half_width(self, lateral: float, depth: float) -> float:
        """Projected half width of an elliptic cross-section, in pixels."""
        c, sn = np.cos(self.facing), np.sin(self.facing)
        return self.hp * float(np.hypot(lateral * c, depth * sn))


@dataclass(frozen=True)
class _Shape:
    z: float
    kind: str  # "poly" or "ellipse"
    xy: tuple
    code: int  # material << 4 | part


def _code(material: int, part: int) -> int:
    return material << 4 | part


def _segment(p0, p1, w0: float, w1: float, z: float, code: int) -> list[_Shape]:
    """A tapered limb segment with round caps (widths are diameters in pixels)."""
    (x0, y0), (x1, y1) = p0[:2], p1[:2]
    dx, dy = x1 - x0, y1 - y0
    n = max(float(np.hypot(dx, dy)), 1e-6)
    nx, ny = -dy / n, dx / n
    w0, w1 = max(w0, 1.5) / 2, max(w1, 1.5) / 2
    quad = (
        (x0 + nx * w0, y0 + ny * w0),
        (x1 + nx * w1, y1 + ny * w1),
        (x1 - nx * w1, y1 - ny * w1),
        (x0 - nx * w0, y0 - ny * w0),
    )
    return [
        _Shape(z, "poly", quad, code),
        _Shape(z, "ellipse", (x0 - w0, y0 - w0, x0 + w0, y0 + w0), code),
        _Shape(z, "ellipse", (x1 - w1, y1 - w1, x1 + w1, y1 + w1), code),
    ]


def _ellipse(cx: float, cy: float, rx: float, ry: float, z: float, code: int) -> _Shape:
    rx, ry = max(rx, 0.8), max(ry, 0.8)
    return _Shape(z, "ellipse", (cx - rx, cy - ry, cx + rx, cy + ry), code)


def _chain(s: float, f: float, h: float, alpha: float, beta: float, length: float, side: float):
    """End of a limb of ``length`` from (s, f, h), swung forward by alpha and out by beta."""
    return (
        s + side * length * np.sin(beta),
        f + length * np.sin(alpha) * np.cos(beta),
        h - length * np.cos(alpha) * np.cos(beta),
    )


def _arm(ident: Identity, pose: Pose, fr: _Frame, side: str) -> list[_Shape]:
    sg, b = SIDE[side], ident.build
    alpha, beta = getattr(pose, f"arm_{side}"), getattr(pose, f"raise_{side}")
    bend = getattr(pose, f"elbow_{side}")
    sh = (sg * 0.095 * b, 0.0, 0.81)
    el = _chain(*sh, alpha, beta, 0.17, sg)
    wr = _chain(*el, alpha + bend, beta, 0.15, sg)
    hd = _chain(*wr, alpha + bend, beta, 0.03, sg)
    p_sh, p_el, p_wr, p_hd = (fr.point(*p) for p in (sh, el, wr, hd))
    sleeve = SLEEVES[ident.sleeve]
    upper_m = SKIN_M if sleeve == "none" else TOP_M
    lower_m = TOP_M if sleeve == "long" else SKIN_M
    z_up, z_lo = (p_sh[2] + p_el[2]) / 2 + 0.01, (p_el[2] + p_wr[2]) / 2 + 0.011
    hp = fr.hp
    return (
        _segment(p_sh, p_el, 0.052 * b * hp, 0.042 * b * hp, z_up, _code(upper_m, UPPER_ARM[side]))
        + _segment(p_el, p_wr, 0.04 * b * hp, 0.032 * b * hp, z_lo, _code(lower_m, LOWER_ARM[side]))
        + [
            _ellipse(
                p_hd[0], p_hd[1], 0.026 * hp, 0.03 * hp, z_lo + 0.001, _code(SKIN_M, HAND[side])
            )
        ]
    )


def _leg(ident: Identity, pose: Pose, fr: _Frame, side: str) -> list[_Shape]:
    sg, b, hp = SIDE[side], ident.build, fr.hp
    alpha, knee = getattr(pose, f"leg_{side}"), getattr(pose, f"knee_{side}")
    hip = (sg * 0.045 * b, 0.0, 0.5)
    kn = _chain(*hip, alpha, pose.stance, 0.245, sg)
    an = _chain(*kn, alpha - knee, pose.stance, 0.205, sg)
    p_hip, p_kn, p_an = (fr.point(*p) for p in (hip, kn, an))
    p_ft = fr.point(an[0], an[1] + 0.03, max(an[2] - 0.028, 0.018))
    lower_m = TROUSER_M if TROUSERS[ident.trousers] == "long" else SKIN_M
    z_up, z_lo = (p_hip[2] + p_kn[2]) / 2, (p_kn[2] + p_an[2]) / 2 + 0.001
    return (
        _segment(
            p_hip, p_kn, 0.085 * b * hp, 0.062 * b * hp, z_up, _code(TROUSER_M, UPPER_LEG[side])
        )
        + _segment(
            p_kn, p_an, 0.058 * b * hp, 0.045 * b * hp, z_lo, _code(lower_m, LOWER_LEG[side])
        )
        + [
            _ellipse(
                p_ft[0],
                p_ft[1],
                fr.half_width(0.025 * b, 0.055),
                0.024 * hp,
                z_lo + 0.002,
                _code(SHOE_M, FOOT[side]),
            )
        ]
    )


def _band(fr: _Frame, heights: tuple[float, ...], widths: tuple, z: float, code: int) -> _Shape:
    """A torso-like polygon through (height, lateral half-width, depth half-width) rows."""
    left, right = [], []
    for h, (w, d) in zip(heights, widths, strict=True):
        x, y, _ = fr.point(0.0, 0.0, h)
        hw = fr.half_width(w, d)
        left.append((x - hw, y))
        right.append((x + hw, y))
    return _Shape(z, "poly", tuple(left + right[::-1]), code)


def _torso(ident: Identity, fr: _Frame) -> list[_Shape]:
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
        _band(fr, hs, tuple(rows.values()), 0.0, _code(TOP_M, TORSO)),
        _band(fr, hs[3:], tuple(rows[h] for h in hs[3:]), 0.0, _code(TROUSER_M, TORSO)),
    ]
    pattern = PATTERNS[ident.pattern]
    if pattern == "two_tone":
        shapes.append(
            _band(fr, hs[2:4], tuple(rows[h] for h in hs[2:4]), 0.0, _code(TOP2_M, TORSO))
        )
    if pattern == "logo" and np.cos(fr.facing) > 0.3:
        x, y, _ = fr.point(0.0, 0.06 * b, 0.72)
        w = fr.half_width(0.04 * b, 0.0) + 0.5
        shapes.append(
            _Shape(
                0.001,
                "poly",
                (
                    (x - w, y - 0.04 * fr.hp),
                    (x + w, y - 0.04 * fr.hp),
                    (x + w, y + 0.04 * fr.hp),
                    (x - w, y + 0.04 * fr.hp),
                ),
                _code(TOP2_M, TORSO),
            )
        )
    # Neck: skin, labelled head (DensePose has no neck part).
    x0, y0, _ = fr.point(0.0, 0.0, 0.885)
    x1, y1, _ = fr.point(0.0, 0.0, 0.8)
    shapes += _segment((x0, y0), (x1, y1), 0.045 * fr.hp, 0.05 * fr.hp, 0.0005, _code(SKIN_M, HEAD))
    return shapes


def _head(ident: Identity, fr: _Frame) -> list[_Shape]:
    hp, c, sn = fr.hp, np.cos(fr.facing), np.sin(fr.facing)
    x, y, _ = fr.point(0.0, 0.0, 0.93)
    rx, ry = 0.052 * hp, 0.066 * hp
    style = HAIR_STYLES[ident.hair_style]
    hair, skin = _code(HAIR_M, HEAD), _code(SKIN_M, HEAD)
    shapes = []
    if style == "long":  # hangs behind the head down to the shoulders
        bx, by, bz = fr.point(0.0, -0.045, 0.86)
        shapes.append(_ellipse(bx, by, rx * 1.1, 0.085 * hp, bz * 0.5 + 0.02, hair))
    shapes.append(_ellipse(x, y, rx, ry, 0.03, hair))
    if c > -0.35:  # the face shows unless the person walks away from the camera
        fx = x + sn * rx * 0.35
        frx = rx * (0.6 + 0.3 * max(c, 0.0))
        shapes.append(_ellipse(fx, y + 0.22 * ry, frx, 0.78 * ry, 0.031, skin))
    if style == "bun":
        bx, by, _ = fr.point(0.0, -0.04, 0.985)
        shapes.append(_ellipse(bx, by, 0.026 * hp, 0.026 * hp, 0.029, hair))
    if style == "hat":
        hat = _code(HAT_M, HEAD)
        shapes.append(
            _Shape(0.032, "chord", (x - rx * 1.05, y - ry * 1.05, x + rx * 1.05, y + ry * 0.6), hat)
        )
        px, py, _ = fr.point(0.0, 0.075, 0.955)
        shapes.append(
            _ellipse(
                (x + px) / 2, py, abs(px - x) / 2 + rx * 0.5 * abs(c) + 1, 0.012 * hp, 0.033, hat
            )
        )
    return shapes


def _bag(ident: Identity, fr: _Frame) -> list[_Shape]:
    kind, b, hp = BAGS[ident.bag], ident.build, fr.hp
    code = _code(BAG_M, TORSO)  # bags are carried on the torso: labelled torso
    if kind == "backpack":
        x, y, z = fr.point(0.0, -0.1 * b, 0.67)
        w, h = fr.half_width(0.075 * b, 0.045), 0.1 * hp
        shapes = [
            _Shape(
                z, "poly", ((x - w, y - h), (x + w, y - h), (x + w, y + h), (x - w, y + h)), code
            )
        ]
        if np.cos(fr.facing) > 0.3:  # straps over the shoulders
            for sg in (-1.0, 1.0):
                shapes += _segment(
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
        strap = _segment(
            fr.point(-sg * 0.07 * b, 0.0, 0.82), (x, y - h), 0.014 * hp, 0.014 * hp, 0.002, code
        )
        return strap + [
            _Shape(
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
    fr = _Frame(foot[0], foot[1], height * ident.stature, pose.facing, pose.lean)
    shapes = _torso(ident, fr) + _head(ident, fr) + _bag(ident, fr)
    for side in ("r", "l"):
        shapes += _arm(ident, pose, fr, side) + _leg(ident, pose, fr, side)
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
