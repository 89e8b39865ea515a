"""The true-mask diagnosis: a part method pooled under the ground-truth cells."""

from __future__ import annotations

import torch

from benchmark.perf import oracle_masks as om
from reid_methods import build_method


def _model():
    torch.manual_seed(0)
    return build_method("hpnet", 4, backbone="resnet18_quarter", head_dim=8).eval()


def _cell_label(codes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[h, w] part codes per Conv5 cell -> [H, W] label with each cell filled by its code."""
    return codes.repeat_interleave(size[0] // codes.shape[0], 0).repeat_interleave(
        size[1] // codes.shape[1], 1
    )


def test_true_masks_equal_the_model_when_its_masks_are_the_truth(monkeypatch) -> None:
    model = _model()
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        fmaps, probs = model.part_maps(images)
    h, w = probs.shape[-2:]
    codes = torch.zeros(2, h, w, dtype=torch.uint8)
    codes[:, : h // 4], codes[:, h // 4 : h // 2] = 1, 2  # head, torso; no legs
    codes[1, h // 2 :] = 3  # the second image shows upper legs too
    onehot = torch.stack([(codes == j + 1).float() for j in range(4)], 1)  # [2, P, h, w]
    monkeypatch.setattr(model, "part_maps", lambda x: (fmaps, onehot))  # masks == truth
    labels = torch.stack([_cell_label(c, (64, 32)) for c in codes])[:, None].float()
    with torch.no_grad():
        want = model(images)
        got = om.TrueMasks(model)(torch.cat([images, labels], 1))
    torch.testing.assert_close(got.features, want.features)
    assert got.visibility.tolist() == [[1, 1, 0, 0], [1, 1, 1, 0]]


def test_true_masks_replace_the_models_own(monkeypatch) -> None:
    model = _model()
    images = torch.randn(1, 3, 64, 32)
    labels = torch.zeros(1, 1, 64, 32)
    labels[:, :, :16] = 1  # only a head in the top quarter
    with torch.no_grad():
        got = om.TrueMasks(model)(torch.cat([images, labels], 1))
    assert got.visibility.tolist() == [[1, 0, 0, 0]], "visibility comes from the truth"


def test_images_carry_their_label_as_a_fourth_channel(monkeypatch) -> None:
    image, parts = torch.randn(3, 8, 4), torch.randint(0, 5, (8, 4), dtype=torch.uint8)

    class Fake:
        def __init__(self, samples, size, with_parts):
            assert with_parts

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return image, 7, parts, i

    monkeypatch.setattr(om, "ReIDImages", Fake)
    stacked, label, empty, index = om.ImagesWithTruth([], (8, 4))[0]
    assert stacked.shape == (4, 8, 4) and (label, index, empty.numel()) == (7, 0, 0)
    torch.testing.assert_close(stacked[:3], image)
    assert torch.equal(stacked[3].round().to(torch.uint8), parts)


def test_a_missing_run_folder_is_a_one_line_error(tmp_path, capsys) -> None:
    assert om.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_the_labels_reach_the_grid_as_the_methods_training_resized_them() -> None:
    assert om.TrueMasks(_model()).resize is om.part_targets, "the cpu profile: area coverage"
    official = build_method(
        "hpnet", 4, backbone="resnet18_quarter", head_dim=8, label_resize="nearest"
    )
    assert om.TrueMasks(official).resize is om.nearest_targets, "the official code: nearest"
