"""Parsing quality: dataset-level IoU, visibility scores and the stored predictions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.evaluation.parsing import (
    PartCounts,
    count_batch,
    evaluate_parsing,
    part_metrics,
    save_predictions,
    score_parsing,
)
from benchmark.evaluation.parsing_truth import truth_path, with_truth
from reid_datasets.base import Sample
from reid_methods.base import Output


def _slow_iou(preds: list[np.ndarray], truths: list[np.ndarray]) -> list[float]:
    """Per part: sum of intersections over images / sum of unions (the reference loop)."""
    ious = []
    for j in range(preds[0].shape[0]):
        inter = union = 0
        for pred, truth in zip(preds, truths, strict=True):
            for a, b in zip(pred[j].ravel(), truth[j].ravel(), strict=True):
                inter += int(a and b)
                union += int(a or b)
        ious.append(inter / union if union else math.nan)
    return ious


def test_dataset_level_iou_on_hand_case() -> None:
    # 2 images, 2 parts, 2x2 grid; labels at the grid size so part_targets is the identity
    probs = torch.tensor(
        [
            [[[0.9, 0.9], [0.1, 0.1]], [[0.1, 0.1], [0.9, 0.1]]],
            [[[0.9, 0.1], [0.1, 0.1]], [[0.1, 0.1], [0.1, 0.1]]],
        ]
    )
    labels = torch.tensor([[[1, 0], [2, 2]], [[1, 1], [0, 0]]])
    vis = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    counts = count_batch(probs, vis, labels, [labels[0].numpy(), labels[1].numpy()])
    # part 1: image 0 inter 1 union 2, image 1 inter 1 union 2 -> 2/4 (mean of ratios = 0.5 too)
    # part 2: image 0 inter 1 union 2, image 1 inter 0 union 0 -> 1/2
    assert counts.inter_grid.tolist() == [2, 1], "grid intersections"
    assert counts.union_grid.tolist() == [4, 2], "grid unions"
    metrics = part_metrics(counts)
    assert metrics["iou_grid_part1"] == pytest.approx(0.5), "part 1 IoU"
    assert metrics["miou_grid"] == pytest.approx(0.5), "mIoU over the two parts"
    # part 2 absent from image 1 and not predicted: a true negative
    assert metrics["vis_acc_part2"] == pytest.approx(1.0), "visibility accuracy"
    assert metrics["vis_recall"] == pytest.approx(1.0), "every present part predicted"


def test_dataset_level_differs_from_mean_of_images() -> None:
    # image 0: tiny part, missed entirely (IoU 0); image 1: big part, perfect (IoU 1)
    probs = torch.zeros(2, 1, 2, 4)
    probs[1, 0] = 0.9
    labels = torch.zeros(2, 2, 4, dtype=torch.long)
    labels[0, 0, 0] = 1
    labels[1] = 1
    counts = count_batch(probs, torch.tensor([[0.0], [1.0]]), labels, list(labels.numpy()))
    iou = part_metrics(counts)["iou_grid_part1"]
    assert iou == pytest.approx(8 / 9), "sum of intersections / sum of unions, not 0.5"
    assert part_metrics(counts)["vis_precision"] == pytest.approx(1.0), "no false positive"
    assert part_metrics(counts)["vis_recall"] == pytest.approx(0.5), "one present part missed"


def test_counts_match_slow_loop_on_random_masks() -> None:
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(5, 3, 4, 2, generator=gen)
    labels = torch.randint(0, 4, (5, 4, 2), generator=gen)
    full = [np.kron(lab.numpy(), np.ones((2, 2), dtype=np.int64)) for lab in labels]  # 8x4
    counts = count_batch(probs, torch.ones(5, 3), labels, full)
    metrics = part_metrics(counts)
    preds = [(p > 0.5).numpy() for p in probs]
    truths = [np.stack([lab.numpy() == j for j in (1, 2, 3)]) for lab in labels]
    for j, ref in enumerate(_slow_iou(preds, truths)):
        assert metrics[f"iou_grid_part{j + 1}"] == pytest.approx(ref), f"grid IoU part {j + 1}"
    # image size: bilinear x2 upsampling then > 0.5, against the 8x4 labels
    up = torch.nn.functional.interpolate(probs, size=(8, 4), mode="bilinear", align_corners=False)
    preds = [(p > 0.5).numpy() for p in up]
    truths = [np.stack([f == j for j in (1, 2, 3)]) for f in full]
    for j, ref in enumerate(_slow_iou(preds, truths)):
        assert metrics[f"iou_image_part{j + 1}"] == pytest.approx(ref), f"image IoU part {j + 1}"


def test_undefined_ratios_are_nan() -> None:
    zero = np.zeros(2, dtype=np.int64)
    counts = PartCounts(zero, zero, zero, zero, zero, zero, zero, np.array([3, 3]))
    metrics = part_metrics(counts)
    assert math.isnan(metrics["miou_grid"]), "no union anywhere: NaN, not 0"
    assert math.isnan(metrics["vis_recall_part1"]), "no present part: recall undefined"
    assert metrics["vis_acc_part1"] == 1.0, "all true negatives"


class _Masks(torch.nn.Module):
    """A fake 4-part method whose head mask is the upper half of an 8x4 grid."""

    def forward(self, images: torch.Tensor) -> Output:
        n = images.shape[0]
        masks = torch.zeros(n, 4, 8, 4)
        masks[:, 0, :4] = 0.8
        vis = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
        return Output(torch.zeros(n, 4, 3), vis, masks=masks)


def _write_tree(root: Path) -> list[Sample]:
    rel = "Occluded_REID/occluded_body_images"
    (root / rel).mkdir(parents=True)
    (root / (rel.replace("REID", "REID_gt_label"))).mkdir(parents=True)
    label = np.zeros((16, 8), dtype=np.uint8)
    label[:8] = 1  # head (7-part code 1) on the upper half
    samples = []
    for k in range(2):
        image = root / rel / f"001_0{k}.jpg"
        Image.fromarray(np.zeros((16, 8, 3), dtype=np.uint8)).save(image)
        Image.fromarray(label).save(truth_path(root, image))
        samples.append(Sample(image, 1, 0))
    return samples


def test_score_and_store_predictions(tmp_path: Path) -> None:
    samples = with_truth(tmp_path, _write_tree(tmp_path))
    result = score_parsing(_Masks(), samples, (16, 8), "cpu")
    assert result is not None, "a method with masks is scored"
    metrics = part_metrics(result.counts)
    assert metrics["iou_grid_head"] == 1.0, "mask equals the truth on the grid"
    assert metrics["iou_image_head"] == 1.0, "and at image size"
    assert math.isnan(metrics["iou_grid_torso_arms"]), "torso absent and not predicted"
    assert metrics["vis_acc_torso_arms"] == 1.0, "absent part predicted invisible"
    path = save_predictions(result, (16, 8), tmp_path / "parsing.npz")
    stored = np.load(path)
    assert stored["probs"].shape == (2, 4, 8, 4), "probabilities per image"
    assert stored["paths"].tolist() == [str(s.path) for s in samples], "image paths"
    assert stored["input_size"].tolist() == [16, 8], "input size"


def test_undefined_part_gives_no_metric_rather_than_a_made_up_value(tmp_path: Path) -> None:
    samples = _write_tree(tmp_path)  # the truth holds only the head; only the head is predicted
    out = tmp_path / "parsing.npz"
    metrics = evaluate_parsing(_Masks(), samples, tmp_path, (16, 8), "cpu", 4, out)
    assert metrics is not None and metrics["iou_grid_head"] == 1.0, "a defined part is scored"
    for part in ("torso_arms", "upper_legs", "lower_legs_feet"):
        for prefix in ("iou_grid", "iou_image", "vis_precision", "vis_recall"):
            assert f"{prefix}_{part}" not in metrics, f"0/0 {prefix}_{part}: no row, no NaN"
        assert metrics[f"vis_acc_{part}"] == 1.0, "absent and predicted absent: defined"
    assert metrics["miou_grid"] == 1.0, "mIoU over the defined parts only"
    assert not any(math.isnan(v) for v in metrics.values()), "no NaN value is returned"
    assert metrics["images"] == 2.0 and out.is_file(), "count and predictions stored"
