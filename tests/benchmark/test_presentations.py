"""Partial crops shown in place and at a zoom: the canvas geometry of the zoom diagnostic."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import DataError
from benchmark.loading.presentations import BLANK, Crop, present, source_boxes, stretch_zoom


def _crop(h: int, w: int) -> np.ndarray:
    return np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)


def test_zoom_one_puts_the_crop_back_at_its_source_box() -> None:
    crop = Crop((10, 50, 8, 40), (128, 64))
    image = _crop(40, 32)
    canvas = present(image, crop, 1.0)
    assert canvas.shape == (128, 64, 3)
    np.testing.assert_array_equal(canvas[10:50, 8:40], image)
    assert (canvas[:10] == BLANK).all() and (canvas[50:] == BLANK).all(), "the rest is blank"


def test_a_zoom_scales_about_the_top_centre_and_clips_to_the_canvas() -> None:
    crop = Crop((0, 60, 16, 48), (128, 64))
    canvas = present(np.full((60, 32, 3), 200, np.uint8), crop, 2.0)
    filled = np.argwhere((canvas != BLANK).any(-1))
    assert filled[:, 0].min() == 0 and filled[:, 0].max() == 119, "120 rows from the top"
    assert filled[:, 1].min() == 0 and filled[:, 1].max() == 63, "64 wide, centred at 32"
    assert stretch_zoom(crop) == pytest.approx((128 / 60 + 64 / 32) / 2)


def test_source_boxes_of_an_older_tree_is_one_line(tmp_path) -> None:
    (tmp_path / "synthetic_images.csv").write_text("path,occluder,visible_fraction\na.jpg,,1.0\n")
    with pytest.raises(DataError, match="older generator"):
        source_boxes(tmp_path, (128, 64))
    (tmp_path / "synthetic_images.csv").write_text(
        "path,camera,occluder,visible_fraction,source_box\np/a.jpg,0,,0.5,1 9 2 30\nq.jpg,1,,1,\n"
    )
    assert source_boxes(tmp_path, (128, 64)) == {"p/a.jpg": Crop((1, 9, 2, 30), (128, 64))}
