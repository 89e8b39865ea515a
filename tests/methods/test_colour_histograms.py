"""The training-free reference: stripe colour histograms against a slow per-pixel loop."""

from __future__ import annotations

import colorsys

import numpy as np
import pandas as pd
import torch

from benchmark.reporting.claims import Side, floor_claims
from reid_methods import build_method, method_config
from reid_methods.colour_histograms import MEAN, STD, rgb_to_hsv


def slow_features(rgb: np.ndarray, stripes: int, hb: int, sb: int, vb: int) -> np.ndarray:
    """[H, W, 3] RGB in [0, 1] -> [P, D] square-rooted band histograms, pixel by pixel."""
    height, width, _ = rgb.shape
    dim = hb * sb + vb
    out = np.zeros((stripes, dim))
    for y in range(height):
        band = y * stripes // height
        for x in range(width):
            h, s, v = colorsys.rgb_to_hsv(*rgb[y, x])
            joint = min(int(h * hb), hb - 1) * sb + min(int(s * sb), sb - 1)
            out[band, joint] += 1
            out[band, hb * sb + min(int(v * vb), vb - 1)] += 1
    pixels = np.bincount(np.arange(height) * stripes // height, minlength=stripes) * width
    return np.sqrt(out / pixels[:, None])


def test_features_are_the_band_histograms_of_a_slow_loop() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((2, 20, 8, 3)).astype(np.float32)
    rgb[0, :5] = [0.9, 0.1, 0.1]  # a saturated red top: one hue bin
    images = torch.from_numpy(rgb).permute(0, 3, 1, 2) - torch.tensor(MEAN).view(1, 3, 1, 1)
    images = images / torch.tensor(STD).view(1, 3, 1, 1)
    cfg = method_config("colour_hist")
    out = build_method("colour_hist", 3)(images)
    assert out.features.shape == (2, cfg.stripes, 36) and out.pre_bn is None
    torch.testing.assert_close(out.visibility, torch.ones(2, cfg.stripes))
    for i in range(2):
        want = slow_features(rgb[i], cfg.stripes, cfg.hue_bins, 4, 4)
        torch.testing.assert_close(
            out.features[i].double(), torch.from_numpy(want), atol=1e-5, rtol=0
        )


def test_hsv_matches_colorsys() -> None:
    rgb = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(1))
    rgb[0, :, 0, 0] = torch.tensor([0.5, 0.5, 0.5])  # grey: no chroma
    rgb[0, :, 0, 1] = 0.0  # black
    hsv = rgb_to_hsv(rgb)
    for y in range(6):
        for x in range(7):
            want = colorsys.rgb_to_hsv(*rgb[0, :, y, x].tolist())
            torch.testing.assert_close(hsv[0, :, y, x], torch.tensor(want), atol=1e-5, rtol=0)


def test_equal_bands_have_distance_zero_and_the_norm_is_fixed() -> None:
    image = torch.randn(1, 3, 24, 12)
    features = build_method("colour_hist", 2)(image.repeat(2, 1, 1, 1)).features
    torch.testing.assert_close(features[0], features[1])
    # each band: two histograms summing to 1, square-rooted: squared norm 2
    torch.testing.assert_close((features**2).sum(-1), torch.full((2, 6), 2.0))


def test_floor_claims_cover_every_learned_method_and_set() -> None:
    present = {("colour_hist", True), ("colour_hist", False), ("baseline", True), ("hpnet", True)}
    present |= {("hpnet", False)}
    claims = floor_claims(present, ("market1501", "occluded_reid"))
    assert [(c.method, c.reference) for c in claims] == [
        (Side("baseline"), Side("colour_hist")),
        (Side("hpnet"), Side("colour_hist")),
    ]
    assert all(c.datasets == ("market1501", "occluded_reid") for c in claims)
    assert all(c.relation == ">" and "training-free" in c.text for c in claims)
    assert floor_claims({("baseline", True)}, ("market1501",)) == [], "no floor method run"
    assert pd.Series([c.key for c in claims]).is_unique
