"""The ground truth of parsing quality: found, missing (skipped with a note) or damaged."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import DataError
from benchmark.evaluation.parsing_truth import sets_with_truth, truth_path, with_truth
from reid_datasets.base import Sample


def _queries(root: Path, folder: str, count: int, labelled: int) -> list[Sample]:
    """``count`` query images under ``root/folder``, the first ``labelled`` with a truth PNG."""
    (root / folder).mkdir(parents=True)
    samples = []
    for k in range(count):
        image = root / folder / f"00{k}_01.jpg"
        Image.fromarray(np.zeros((8, 4, 3), dtype=np.uint8)).save(image)
        if k < labelled:
            label = truth_path(root, image)
            label.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ones((8, 4), dtype=np.uint8)).save(label)
        samples.append(Sample(image, k, 0))
    return samples


def test_missing_truth_is_a_data_error(tmp_path: Path) -> None:
    image = tmp_path / "Occluded_REID" / "occluded_body_images" / "001_01.jpg"
    with pytest.raises(DataError, match="ground-truth labels are missing"):
        with_truth(tmp_path, [Sample(image, 1, 0)])


def test_sets_without_truth_are_skipped_with_a_note(tmp_path: Path, caplog) -> None:
    queries = {
        "occluded_reid": _queries(tmp_path, "Occluded_REID/occluded_body_images", 3, 3),
        "my_plugin_set": _queries(tmp_path, "MySet/query", 2, 0),
    }
    with caplog.at_level(logging.INFO, logger="benchmark.evaluation.parsing_truth"):
        kept = sets_with_truth(tmp_path, queries, synthetic=True)
    assert kept == ("occluded_reid",), f"only the set with ground truth is scored: {kept}"
    assert "not scored on my_plugin_set" in caplog.text, "the skipped set is named in a note"


def test_real_data_is_never_scored(tmp_path: Path, caplog) -> None:
    queries = {"occluded_reid": _queries(tmp_path, "Occluded_REID/occluded_body_images", 2, 2)}
    with caplog.at_level(logging.INFO, logger="benchmark.evaluation.parsing_truth"):
        assert sets_with_truth(tmp_path, queries, synthetic=False) == (), "real data: none"
    assert "real data has no ground-truth part labels" in caplog.text, "and says so"


def test_partly_labelled_set_is_damaged_data(tmp_path: Path) -> None:
    queries = {"occluded_reid": _queries(tmp_path, "Occluded_REID/occluded_body_images", 3, 1)}
    with pytest.raises(DataError, match="only 1 of 3 queries have a ground-truth part label"):
        sets_with_truth(tmp_path, queries, synthetic=True)
