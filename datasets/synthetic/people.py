"""Synthetic identities (per-part attributes) and walking poses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Clothing palette (RGB, sampling weight). Dark and neutral colours dominate, as in real
# street scenes, so colour alone does not separate identities; backgrounds use it too.
CLOTH = (
    ((25, 25, 28), 3.0),
    ((62, 62, 66), 2.0),
    ((128, 128, 128), 1.5),
    ((232, 232, 226), 2.0),
    ((30, 40, 90), 2.0),
    ((50, 90, 180), 1.0),
    ((140, 180, 220), 1.0),
    ((190, 30, 35), 1.0),
    ((110, 30, 40), 0.8),
    ((40, 120, 60), 0.8),
    ((100, 110, 50), 0.6),
    ((230, 200, 40), 0.6),
    ((230, 120, 30), 0.5),
    ((110, 60, 150), 0.5),
    ((230, 150, 180), 0.6),
    ((110, 75, 45), 0.8),
    ((200, 180, 140), 1.0),
    ((30, 130, 130), 0.5),
)
HAIR = (
    ((20, 18, 18), 4.0),
    ((60, 40, 25), 2.0),
    ((110, 75, 40), 1.0),
    ((210, 180, 110), 0.7),
    ((150, 150, 150), 0.5),
    ((140, 60, 30), 0.4),
)
SKIN = ((250, 220, 195), (230, 190, 160), (195, 150, 115), (150, 105, 75), (95, 65, 45))
SHOES = (
    ((22, 22, 22), 3.0),
    ((235, 235, 235), 2.0),
    ((100, 65, 40), 1.0),
    ((120, 120, 125), 1.0),
    ((180, 30, 30), 0.4),
    ((40, 60, 150), 0.5),
)
HAIR_STYLES = ("short", "long", "bun", "hat")
SLEEVES = ("long", "short", "none")
PATTERNS = ("plain", "stripes", "logo", "two_tone")
TROUSERS = ("long", "shorts")
BAGS = ("none", "backpack", "shoulder")

# Materials: what colours a pixel (the part label is drawn separately, see figure.py).
SKIN_M, HAIR_M, TOP_M, TOP2_M, TROUSER_M, SHOE_M, BAG_M, HAT_M = range(1, 9)
GROUPS = ("head", "top", "bottom", "shoes", "bag")


@dataclass(frozen=True)
class Identity:
    """One synthetic person: categorical attributes plus the exact colours they produce.

    Attributes:
        hair_style, sleeve, pattern, trousers, bag: indices into the tuples above (shape cues).
        hair, skin, top, top2, trouser, shoe, bag_colour, hat: palette indices.
        build: width factor (slim 0.85 ... broad 1.15); stature: height factor.
        colours: RGB per material index (0 unused), jittered per identity.
    """

    hair_style: int
    hair: int
    hat: int
    skin: int
    top: int
    sleeve: int
    pattern: int
    top2: int
    trouser: int
    trousers: int
    shoe: int
    bag: int
    bag_colour: int
    build: float
    stature: float
    colours: tuple[tuple[int, int, int], ...]

    def groups(self) -> tuple[int, ...]:
        """One integer code per body group in GROUPS; invisible attributes are ignored."""
        hat = self.hat if HAIR_STYLES[self.hair_style] == "hat" else -1
        top2 = self.top2 if PATTERNS[self.pattern] != "plain" else -1
        bag_colour = self.bag_colour if BAGS[self.bag] != "none" else -1
        codes = (
            (self.hair_style, self.hair, hat, self.skin),
            (self.top, self.sleeve, self.pattern, top2),
            (self.trouser, self.trousers),
            (self.shoe,),
            (self.bag, bag_colour),
        )
        return tuple(_mix(c) for c in codes)


def _mix(values: tuple[int, ...]) -> int:
    """Mixed-radix code of small non-negative (or -1) integers."""
    code = 0
    for v in values:
        code = code * 64 + (v + 1)
    return code


def _pick(rng: np.random.Generator, table: tuple) -> int:
    weights = np.array([w for _, w in table], dtype=np.float64)
    return int(rng.choice(len(table), p=weights / weights.sum()))


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: int = 10) -> tuple:
    out = np.clip(np.array(rgb) + rng.integers(-amount, amount + 1, size=3), 0, 255)
    return tuple(int(v) for v in out)


def random_identity(rng: np.random.Generator) -> Identity:
    """Draw one identity (no uniqueness constraint; used for crowds and occluding people)."""
    hair_style = int(rng.choice(4, p=[0.45, 0.25, 0.1, 0.2]))
    hair, hat, skin = _pick(rng, HAIR), _pick(rng, CLOTH), int(rng.integers(len(SKIN)))
    top, top2, trouser = _pick(rng, CLOTH), _pick(rng, CLOTH), _pick(rng, CLOTH)
    bag_colour, shoe = _pick(rng, CLOTH), _pick(rng, SHOES)
    sleeve = int(rng.choice(3, p=[0.5, 0.4, 0.1]))
    pattern = int(rng.choice(4, p=[0.55, 0.15, 0.15, 0.15]))
    trousers = int(rng.choice(2, p=[0.75, 0.25]))
    bag = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
    build = float(rng.choice([0.85, 1.0, 1.15]) + rng.normal(0.0, 0.03))
    stature = float(rng.uniform(0.9, 1.08))
    colours = (
        (0, 0, 0),
        _jitter(rng, SKIN[skin], 6),
        _jitter(rng, HAIR[hair][0]),
        _jitter(rng, CLOTH[top][0]),
        _jitter(rng, CLOTH[top2][0]),
        _jitter(rng, CLOTH[trouser][0]),
        _jitter(rng, SHOES[shoe][0]),
        _jitter(rng, CLOTH[bag_colour][0]),
        _jitter(rng, CLOTH[hat][0]),
    )
    return Identity(
        hair_style,
        hair,
        hat,
        skin,
        top,
        sleeve,
        pattern,
        top2,
        trouser,
        trousers,
        shoe,
        bag,
        bag_colour,
        build,
        stature,
        colours,
    )


def sample_identities(
    rng: np.random.Generator, n: int, min_groups: int = 2, avoid: Sequence[Identity] = ()
) -> list[Identity]:
    """Draw ``n`` identities, any two of which differ in at least ``min_groups`` body groups.

    Args:
        rng: the random generator (the result is a pure function of its state).
        n: how many identities.
        min_groups: minimum number of differing groups between any pair (rejection sampling).
        avoid: identities that every drawn one must differ from just as much (the synthetic
            pretraining draws people disjoint from the benchmark's); none keeps the old draw.
    """
    chosen: list[Identity] = []
    codes = np.zeros((len(avoid) + n, len(GROUPS)), dtype=np.int64)  # [A + n, groups]
    for i, other in enumerate(avoid):
        codes[i] = other.groups()
    tries = 0
    while len(chosen) < n:
        tries += 1
        assert tries < 100 * n + 1000, "identity palette too small for the requested count"
        cand = random_identity(rng)
        code = np.array(cand.groups(), dtype=np.int64)
        k = len(avoid) + len(chosen)
        if k and int((codes[:k] != code).sum(axis=1).min()) < min_groups:
            continue
        codes[k] = code
        chosen.append(cand)
    return chosen


@dataclass(frozen=True)
class Pose:
    """Joint angles of one figure (radians; alpha forward from hanging down, raise sideways).

    Attributes:
        facing: walking direction; 0 faces the camera, pi/2 walks to the image right.
        leg_r, leg_l, arm_r, arm_l: forward swing of thighs and upper arms.
        knee_r, knee_l, elbow_r, elbow_l: bends of the lower limbs.
        raise_r, raise_l: sideways raise of the arms; stance: sideways spread of the legs.
        lean: forward lean of the upper body (body-height units per unit height).
    """

    facing: float
    leg_r: float
    leg_l: float
    knee_r: float
    knee_l: float
    arm_r: float
    arm_l: float
    elbow_r: float
    elbow_l: float
    raise_r: float
    raise_l: float
    stance: float
    lean: float


def walking_pose(rng: np.random.Generator, facing_mean: float, facing_spread: float) -> Pose:
    """A walking (or standing) pose: opposite arm/leg swing at a random phase."""
    facing = float(rng.normal(facing_mean, facing_spread))
    if rng.random() < 0.25:  # some people walk any direction, whatever the camera
        facing = float(rng.uniform(0.0, 2 * np.pi))
    phase = rng.uniform(0.0, 2 * np.pi)
    stride = rng.uniform(0.05, 0.45) if rng.random() > 0.15 else rng.uniform(0.0, 0.08)
    swing = stride * rng.uniform(0.5, 1.2)
    s = float(np.sin(phase))
    return Pose(
        facing=facing,
        leg_r=stride * s,
        leg_l=-stride * s,
        knee_r=stride * max(0.0, -s) * 1.2,
        knee_l=stride * max(0.0, s) * 1.2,
        arm_r=-swing * s,
        arm_l=swing * s,
        elbow_r=float(rng.uniform(0.05, 0.5)),
        elbow_l=float(rng.uniform(0.05, 0.5)),
        raise_r=float(rng.uniform(0.04, 0.16)),
        raise_l=float(rng.uniform(0.04, 0.16)),
        stance=float(rng.uniform(0.0, 0.06)),
        lean=float(rng.uniform(-0.04, 0.12)),
    )


def free_pose(rng: np.random.Generator) -> Pose:
    """A diverse pose (raised arms, big steps, bends) for the COCO-style parsing set."""
    if rng.random() < 0.4:
        return walking_pose(rng, rng.uniform(0.0, 2 * np.pi), 0.0)
    u = rng.uniform
    return Pose(
        facing=float(u(0.0, 2 * np.pi)),
        leg_r=float(u(-0.6, 0.9)),
        leg_l=float(u(-0.6, 0.9)),
        knee_r=float(u(0.0, 1.2)),
        knee_l=float(u(0.0, 1.2)),
        arm_r=float(u(-0.8, 1.6)),
        arm_l=float(u(-0.8, 1.6)),
        elbow_r=float(u(0.0, 1.8)),
        elbow_l=float(u(0.0, 1.8)),
        raise_r=float(u(0.05, 2.6)),
        raise_l=float(u(0.05, 2.6)),
        stance=float(u(0.0, 0.3)),
        lean=float(u(-0.1, 0.3)),
    )
