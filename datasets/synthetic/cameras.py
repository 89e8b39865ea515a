"""Synthetic cameras: a static cluttered scene, a typical view and scale, light and noise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reid_datasets.synthetic.people import CLOTH

WALLS = (
    (150, 150, 145),
    (185, 175, 160),
    (120, 95, 80),
    (90, 100, 110),
    (200, 200, 195),
    (70, 70, 75),
    (160, 140, 120),
)
FLOORS = ((110, 110, 110), (70, 70, 72), (150, 140, 125), (95, 105, 90), (130, 120, 110))


@dataclass(frozen=True)
class Camera:
    """One camera of a synthetic data set.

    Attributes:
        facing: mean walking direction seen by this camera (radians; 0 = towards it).
        facing_spread: its spread (radians).
        scale: (low, high) person height as a fraction of the image height.
        jitter: standard deviation of the person's horizontal offset (fraction of the width).
        gain: brightness factor; cast: per-channel colour factors.
        blur: Gaussian blur radius in pixels; noise: Gaussian noise sigma (0-255 scale).
        scene: [H, k*W, 3] uint8 static background panorama the crops are cut from.
    """

    facing: float
    facing_spread: float
    scale: tuple[float, float]
    jitter: float
    gain: float
    cast: tuple[float, float, float]
    blur: float
    noise: float
    scene: np.ndarray = field(repr=False, compare=False)


def _colour(rng: np.random.Generator, table: tuple) -> tuple[int, int, int]:
    rgb = table[int(rng.integers(len(table)))]
    rgb = rgb[0] if isinstance(rgb[0], tuple) else rgb
    r, g, b = np.clip(np.array(rgb) + rng.integers(-12, 13, 3), 0, 255)
    return int(r), int(g), int(b)


def _scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A wall, a floor and clutter whose colours come from the clothing palette."""
    img = Image.new("RGB", (width, height), _colour(rng, WALLS))
    draw = ImageDraw.Draw(img)
    horizon = int(height * rng.uniform(0.55, 0.8))
    draw.rectangle((0, horizon, width, height), fill=_colour(rng, FLOORS))
    for row in range(horizon + 4, height, int(rng.integers(6, 14))):  # floor tiles / kerbs
        draw.line((0, row, width, row), fill=_colour(rng, FLOORS), width=1)
    n = int(width / height * rng.uniform(3, 9))
    for _ in range(n):
        x = rng.uniform(0, width)
        w, h = rng.uniform(0.05, 0.4) * height, rng.uniform(0.1, 0.6) * height
        y = rng.uniform(0.0, horizon) - h * 0.3
        kind = rng.random()
        colour = _colour(rng, CLOTH)
        if kind < 0.45:  # windows, doors, posters, shop signs
            draw.rectangle((x, y, x + w, y + h), fill=colour)
            if rng.random() < 0.5:
                draw.rectangle(
                    (x + w * 0.2, y + h * 0.2, x + w * 0.8, y + h * 0.8), fill=_colour(rng, CLOTH)
                )
        elif kind < 0.7:  # poles and railings
            draw.rectangle((x, y, x + max(2.0, w * 0.12), horizon + 2), fill=colour)
        elif kind < 0.85:  # person-sized blobs: passers-by far away, bins, bushes
            draw.ellipse((x, horizon - h * 0.8, x + w * 0.6, horizon + 2), fill=colour)
        else:  # a bush in the same greens as the plants that occlude people
            g = (int(rng.integers(30, 80)), int(rng.integers(80, 140)), int(rng.integers(30, 70)))
            draw.ellipse((x, horizon - h * 0.5, x + w, horizon + h * 0.1), fill=g)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return np.asarray(img, dtype=np.uint8).copy()


def _floats3(values: np.ndarray) -> tuple[float, float, float]:
    """The three values of a length-3 array as Python floats."""
    a, b, c = values
    return float(a), float(b), float(c)


def make_camera(rng: np.random.Generator, height: int, width: int) -> Camera:
    """Draw one camera, with its static scene sized for (height, width) crops."""
    lo = rng.uniform(0.74, 0.84)
    return Camera(
        facing=float(rng.uniform(0.0, 2 * np.pi)),
        facing_spread=float(rng.uniform(0.4, 1.0)),
        scale=(float(lo), float(lo + rng.uniform(0.06, 0.14))),
        jitter=float(rng.uniform(0.02, 0.08)),
        gain=float(rng.uniform(0.7, 1.25)),
        cast=_floats3(rng.uniform(0.85, 1.15, 3)),
        blur=float(rng.uniform(0.0, 0.8)),
        noise=float(rng.uniform(1.5, 6.0)),
        scene=_scene(rng, height, width * 6),
    )


def background(cam: Camera, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A [height, width, 3] float32 crop of the camera's scene at a random position."""
    scene = cam.scene
    if scene.shape[0] != height or scene.shape[1] < width:
        img = Image.fromarray(scene).resize((max(width * 2, scene.shape[1]), height))
        scene = np.asarray(img)
    x0 = int(rng.integers(0, scene.shape[1] - width + 1))
    return scene[:, x0 : x0 + width].astype(np.float32)


def develop(cam: Camera, rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """Apply the camera's light, colour cast, blur and noise to a float image; return uint8."""
    gain = cam.gain * rng.uniform(0.88, 1.12)
    cast = np.asarray(cam.cast, dtype=np.float32) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    img = np.clip(rgb * (gain * cast), 0, 255).astype(np.uint8)  # [H, W, 3]
    radius = cam.blur * rng.uniform(0.6, 1.4)
    if radius > 0.25:
        img = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    noise *= np.float32(cam.noise)
    noise += img
    return np.clip(noise, 0, 255, out=noise).astype(np.uint8)
