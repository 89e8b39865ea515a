"""The mask diagnosis script: the fixed prior mask and BatchNorm on batch statistics."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from benchmark.perf import mask_diagnosis as md
from reid_datasets.samples import Sample


def _labels(batches):
    def fake(samples, size, batch=256):
        yield from batches

    return fake


def test_prior_marks_cells_most_training_labels_have(monkeypatch) -> None:
    head_top = torch.zeros(4, 8, 4, dtype=torch.uint8)
    head_top[:, :2] = 1  # head in the top quarter of every image
    head_top[:3, 6:] = 4  # lower legs at the bottom in 3 of 4 images
    head_top[0, 2:6] = 2  # torso in 1 of 4 images only
    monkeypatch.setattr(md, "_labels", _labels([(head_top, [])]))
    prior = md.prior_mask([], (8, 4), (4, 2))  # [P, 4, 2]
    assert prior[0].tolist() == [[1, 1], [0, 0], [0, 0], [0, 0]]
    assert prior[1].sum() == 0 and prior[2].sum() == 0, "a part in 1 of 4 images is not marked"
    assert prior[3].tolist() == [[0, 0], [0, 0], [0, 0], [1, 1]]


def test_a_prior_equal_to_the_truth_scores_full_iou(monkeypatch) -> None:
    labels = torch.zeros(2, 8, 4, dtype=torch.uint8)
    labels[:, :4], labels[:, 4:] = 1, 2  # head on top, torso below; no legs
    full = [labels[i].numpy().astype(np.uint8) for i in range(2)]
    monkeypatch.setattr(md, "_labels", _labels([(labels, full)]))
    prior = torch.zeros(4, 4, 2)
    prior[0, :2], prior[1, 2:] = 1, 1
    metrics = md.score_prior(prior, [], (8, 4))
    assert metrics["miou_grid"] == 1.0 and metrics["miou_image"] == 1.0
    assert metrics["vis_recall_head"] == 1.0 and metrics["vis_recall_torso_arms"] == 1.0


def test_batch_statistics_copy_normalises_by_the_batch_in_eval_mode() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).eval()
    net[1].running_mean.fill_(5.0)  # running statistics far from the batch's
    x = torch.randn(6, 3, 5, 5)
    copy = md.with_batch_statistics(net).eval()
    with torch.no_grad():
        h = net[0](x)
        want = nn.functional.batch_norm(h, None, None, net[1].weight, net[1].bias, training=True)
        torch.testing.assert_close(copy(x), want)
    assert float(net[1].running_mean[0]) == 5.0, "the original keeps its running statistics"


def test_a_missing_run_folder_is_a_one_line_error(tmp_path, capsys) -> None:
    assert md.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err


def test_threshold_sweep_on_a_hand_case() -> None:
    probs = torch.tensor([[[[0.35, 0.45], [0.55, 0.2]]]])  # [1, 1, 2, 2]
    truth = torch.tensor([[[[True, True], [False, False]]]])
    sweep = md.threshold_sweep(probs, truth, (0.3, 0.4, 0.5))
    assert sweep["model, G > 0.3"] == {
        "miou_grid": 2 / 3,
        "cell_precision": 2 / 3,
        "cell_recall": 1,
    }
    assert sweep["model, G > 0.4"] == {
        "miou_grid": 1 / 3,
        "cell_precision": 0.5,
        "cell_recall": 0.5,
    }
    assert sweep["model, G > 0.5"] == {"miou_grid": 0, "cell_precision": 0, "cell_recall": 0}


def test_threshold_sweep_at_the_papers_t_equals_the_evaluation() -> None:
    from benchmark.evaluation.parsing import count_grid, mean_defined, ratio
    from reid_methods.losses import part_targets

    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (6, 32, 16), generator=gen)
    labels[:, :8] = 1  # a head everywhere, so the parts differ in size
    probs = torch.rand(6, 4, 8, 4, generator=gen)
    inter, union, *_ = count_grid(probs, torch.ones(6, 4), labels)
    truth = part_targets(labels, 4, (8, 4))[0].bool()
    got = md.threshold_sweep(probs, truth, (0.5,))["model, G > 0.5"]["miou_grid"]
    assert got == mean_defined(ratio(inter, union))
    assert 0 < got < 1


def test_cut_training_boxes_are_told_from_whole_ones(tmp_path) -> None:
    whole = np.zeros((16, 8), np.uint8)
    whole[:3], whole[3:9], whole[9:14], whole[14:] = 1, 2, 5, 7  # head .. feet at the bottom
    cut = np.zeros((16, 8), np.uint8)
    cut[:5], cut[5:12], cut[12:] = 1, 2, 5  # resized box that ends at the upper legs
    short = whole.copy()
    short[14:] = 0  # feet hidden but the body ends above the bottom row: not cut
    samples = []
    for i, label in enumerate((whole, cut, short, cut, whole)):
        path = tmp_path / f"{i}.png"
        Image.fromarray(label, "L").save(path)
        samples.append(Sample(path=path, pid=1, camid=0, label_path=path))
    assert [md.is_cut_box(x) for x in (whole, cut, short)] == [False, True, False]
    kinds = md.training_kinds(samples, limit=2)
    assert [s.path.name for s in kinds["train (cut boxes)"]] == ["1.png", "3.png"]
    assert [s.path.name for s in kinds["train (whole boxes)"]] == ["0.png", "2.png"]
