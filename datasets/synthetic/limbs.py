"""The figure's geometry: the projecting frame, drawable shapes, and the arms and legs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid_datasets.synthetic.people import (
    SHOE_M,
    SKIN_M,
    SLEEVES,
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
class Frame:
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
class Shape:
    """One drawable shape at depth ``z`` (larger z is nearer the camera)."""

    z: float
    kind: str  # "poly" or "ellipse"
    xy: tuple
    code: int  # material << 4 | part


def part_code(material: int, part: int) -> int:
    """The label-canvas code of a part drawn in a material."""
    return material << 4 | part


def segment(p0, p1, w0: float, w1: float, z: float, code: int) -> list[Shape]:
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
        Shape(z, "poly", quad, code),
        Shape(z, "ellipse", (x0 - w0, y0 - w0, x0 + w0, y0 + w0), code),
        Shape(z, "ellipse", (x1 - w1, y1 - w1, x1 + w1, y1 + w1), code),
    ]


def ellipse(cx: float, cy: float, rx: float, ry: float, z: float, code: int) -> Shape:
    """An axis-aligned ellipse around (cx, cy) with radii of at least 0.8 px."""
    rx, ry = max(rx, 0.8), max(ry, 0.8)
    return Shape(z, "ellipse", (cx - rx, cy - ry, cx + rx, cy + ry), code)


def chain(
    s: float, f: float, h: float, alpha: float, beta: float, length: float, side: float
) -> tuple[float, float, float]:
    """End of a limb of ``length`` from (s, f, h), swung forward by alpha and out by beta."""
    return (
        s + side * length * np.sin(beta),
        f + length * np.sin(alpha) * np.cos(beta),
        h - length * np.cos(alpha) * np.cos(beta),
    )


def arm(ident: Identity, pose: Pose, fr: Frame, side: str) -> list[Shape]:
    """Upper arm, lower arm and hand of ``side`` ("r" or "l"), sleeves in the top's colour."""
    sg, b = SIDE[side], ident.build
    alpha, beta = getattr(pose, f"arm_{side}"), getattr(pose, f"raise_{side}")
    bend = getattr(pose, f"elbow_{side}")
    sh = (sg * 0.095 * b, 0.0, 0.81)
    el = chain(*sh, alpha, beta, 0.17, sg)
    wr = chain(*el, alpha + bend, beta, 0.15, sg)
    hd = chain(*wr, alpha + bend, beta, 0.03, sg)
    p_sh, p_el, p_wr, p_hd = (fr.point(*p) for p in (sh, el, wr, hd))
    sleeve = SLEEVES[ident.sleeve]
    upper_m = SKIN_M if sleeve == "none" else TOP_M
    lower_m = TOP_M if sleeve == "long" else SKIN_M
    z_up, z_lo = (p_sh[2] + p_el[2]) / 2 + 0.01, (p_el[2] + p_wr[2]) / 2 + 0.011
    hp = fr.hp
    return (
        segment(
            p_sh, p_el, 0.052 * b * hp, 0.042 * b * hp, z_up, part_code(upper_m, UPPER_ARM[side])
        )
        + segment(
            p_el, p_wr, 0.04 * b * hp, 0.032 * b * hp, z_lo, part_code(lower_m, LOWER_ARM[side])
        )
        + [
            ellipse(
                p_hd[0], p_hd[1], 0.026 * hp, 0.03 * hp, z_lo + 0.001, part_code(SKIN_M, HAND[side])
            )
        ]
    )


def leg(ident: Identity, pose: Pose, fr: Frame, side: str) -> list[Shape]:
    """Upper leg, lower leg and shoe of ``side`` ("r" or "l")."""
    sg, b, hp = SIDE[side], ident.build, fr.hp
    alpha, knee = getattr(pose, f"leg_{side}"), getattr(pose, f"knee_{side}")
    hip = (sg * 0.045 * b, 0.0, 0.5)
    kn = chain(*hip, alpha, pose.stance, 0.245, sg)
    an = chain(*kn, alpha - knee, pose.stance, 0.205, sg)
    p_hip, p_kn, p_an = (fr.point(*p) for p in (hip, kn, an))
    p_ft = fr.point(an[0], an[1] + 0.03, max(an[2] - 0.028, 0.018))
    lower_m = TROUSER_M if TROUSERS[ident.trousers] == "long" else SKIN_M
    z_up, z_lo = (p_hip[2] + p_kn[2]) / 2, (p_kn[2] + p_an[2]) / 2 + 0.001
    return (
        segment(
            p_hip, p_kn, 0.085 * b * hp, 0.062 * b * hp, z_up, part_code(TROUSER_M, UPPER_LEG[side])
        )
        + segment(
            p_kn, p_an, 0.058 * b * hp, 0.045 * b * hp, z_lo, part_code(lower_m, LOWER_LEG[side])
        )
        + [
            ellipse(
                p_ft[0],
                p_ft[1],
                fr.half_width(0.025 * b, 0.055),
                0.024 * hp,
                z_lo + 0.002,
                part_code(SHOE_M, FOOT[side]),
            )
        ]
    )
