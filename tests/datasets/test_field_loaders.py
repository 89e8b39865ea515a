"""Loaders of the sets the field reports: Occluded-Duke, P-DukeMTMC-reID, MSMT17 (V1 and V2)."""

from __future__ import annotations

import json

import pytest
import torch

from benchmark.__main__ import main
from benchmark.errors import DataError
from benchmark.evaluation.ranking import rank_queries
from benchmark.loading.roots import resolve_labels
from reid_datasets.base import dataset_info, default_test_sets, load_dataset
from reid_datasets.check import check_root
from reid_datasets.msmt17 import camera_of
from reid_datasets.occluded_duke import parse_duke_name
from tests.datasets.real_trees import (
    DUKE_GALLERY,
    DUKE_TRAIN,
    make_msmt17,
    make_occluded_duke,
    make_p_dukemtmc,
)


def _ids(samples):
    return [(s.path.stem, s.pid, s.camid) for s in samples]


def test_duke_names_parse_to_pid_and_zero_based_camera():
    parsed = parse_duke_name("0001_c2_f0046182")
    assert (parsed.pid, parsed.camid) == (1, 1)
    parsed = parse_duke_name("0712_c8_f0111001")
    assert (parsed.pid, parsed.camid) == (712, 7)
    assert parse_duke_name("0001_c2s1_000451_03") is None  # a Market name
    assert parse_duke_name("0001_c0_f0046182") is None  # cameras are 1-8


def test_occluded_duke_splits_and_labels(tmp_path):
    make_occluded_duke(tmp_path, labels="gt")
    splits = load_dataset("occluded_duke", tmp_path)
    assert [s[0] for s in _ids(splits.train)] == sorted(DUKE_TRAIN)
    assert _ids(splits.query) == [("0005_c2_f0046985", 5, 1), ("0007_c7_f0109847", 7, 6)]
    assert len(splits.gallery) == len(DUKE_GALLERY)
    assert all(s.label_path is None for s in splits.train)
    labelled = load_dataset("occluded_duke", tmp_path, labels="gt")
    assert all(s.label_path is not None and s.label_path.suffix == ".png" for s in labelled.train)
    with pytest.raises(DataError, match="Occluded_Duke_ps_label not found"):
        load_dataset("occluded_duke", tmp_path, labels="ps")


def test_occluded_duke_query_copies_in_the_gallery_never_count_as_matches(tmp_path):
    """The release's 1,870 queries that also sit in the gallery: same pid and camera, removed."""
    make_occluded_duke(tmp_path)
    splits = load_dataset("occluded_duke", tmp_path)
    q, g = splits.query, splits.gallery
    qp, qc = torch.tensor([s.pid for s in q]), torch.tensor([s.camid for s in q])
    gp, gc = torch.tensor([s.pid for s in g]), torch.tensor([s.camid for s in g])
    # query 0's own copy is nearest (distance 0), its other-camera match is last
    dist = torch.ones(len(q), len(g))
    copy = [s.path.name for s in g].index(q[0].path.name)
    other = next(i for i, s in enumerate(g) if s.pid == q[0].pid and s.camid != q[0].camid)
    dist[0, copy], dist[0, other] = 0.0, 5.0
    per = rank_queries(dist, qp, qc, gp, gc)
    # without the rule the copy would give rank 1 and AP 1; with it the only match is last of 3
    assert int(per.first_rank[0]) == len(g) - 2
    assert float(per.ap[0]) == pytest.approx(1 / 3)


def test_occluded_duke_is_duke_derived_and_its_own_protocol():
    info = dataset_info("occluded_duke")
    assert "Duke-derived" in info.label and "withdrawn" in info.note
    assert info.trained_on == "occluded_duke" and set(info.roles) == {"train", "test"}
    assert default_test_sets("occluded_duke") == ["occluded_duke"]
    assert "occluded_duke" not in default_test_sets("market1501")


def test_p_dukemtmc_query_occluded_gallery_whole_training_both(tmp_path):
    make_p_dukemtmc(tmp_path)
    splits = load_dataset("p_dukemtmc", tmp_path)
    assert {(s.pid, s.camid) for s in splits.query} == {(11, 0), (12, 0)}
    assert {(s.pid, s.camid) for s in splits.gallery} == {(11, 1), (12, 1)}
    assert (len(splits.query), len(splits.gallery)) == (4, 6)
    assert len(splits.train) == 10 and {s.pid for s in splits.train} == {1, 2}
    assert {s.camid for s in splits.train} == {0, 1}  # occluded 0, whole 1
    assert "Duke-derived" in dataset_info("p_dukemtmc").label


def test_p_dukemtmc_image_outside_an_identity_folder_is_named(tmp_path):
    folder = make_p_dukemtmc(tmp_path)
    (folder / "test" / "whole_body_images" / "stray.jpg").write_bytes(
        (folder / "test" / "whole_body_images" / "0011" / "0011_c1_f0000000.jpg").read_bytes()
    )
    with pytest.raises(DataError, match="stray.jpg"):
        load_dataset("p_dukemtmc", tmp_path)


def test_p_dukemtmc_part_labels_mirror_the_image_tree(tmp_path):
    folder = make_p_dukemtmc(tmp_path, labels="ps")
    splits = load_dataset("p_dukemtmc", tmp_path, labels="ps")
    tree = tmp_path / "P-DukeMTMC-reID_ps_label"
    for s in splits.train:  # <tree>/<the image's path in the release>.png
        assert s.label_path == tree / s.path.relative_to(folder).with_suffix(".png"), s.path
        assert s.label_path.is_file()
    assert all(s.label_path is None for s in splits.query + splits.gallery), "test: unlabelled"
    with pytest.raises(DataError, match="P-DukeMTMC-reID_gt_label not found"):
        load_dataset("p_dukemtmc", tmp_path, labels="gt")
    missing = tree / "train" / "occluded_body_images" / "0002" / "0002_c2_f0000001.png"
    missing.unlink()
    with pytest.raises(DataError, match=r"1 of 10 train ps label PNGs missing .*0002_c2_f0000001"):
        load_dataset("p_dukemtmc", tmp_path, labels="ps")
    lenient = load_dataset("p_dukemtmc", tmp_path, labels="ps", strict=False)
    assert sum(s.label_path is None for s in lenient.train) == 1 and len(lenient.problems) == 1
    assert resolve_labels("auto", tmp_path, "real", "p_dukemtmc") == "ps", "a run finds the tree"


def test_a_part_method_on_msmt17_without_labels_is_told_how_to_make_them(tmp_path):
    make_msmt17(tmp_path)
    with pytest.raises(DataError, match="no MSMT17_V2_ps_label tree .*parse label"):
        resolve_labels("auto", tmp_path, "real", "msmt17")


@pytest.mark.parametrize("version", [1, 2])
def test_msmt17_part_labels_mirror_the_image_tree(tmp_path, version):
    folder = make_msmt17(tmp_path, version, labels="ps")
    splits = load_dataset("msmt17", tmp_path, labels="ps")
    tree = tmp_path / f"MSMT17_V{version}_ps_label"
    for s in splits.train + splits.query + splits.gallery:
        assert s.label_path == tree / s.path.relative_to(folder).with_suffix(".png"), s.path


@pytest.mark.parametrize("version", [1, 2])
def test_msmt17_lists_train_plus_val_and_cameras_from_the_name(tmp_path, version):
    make_msmt17(tmp_path, version)
    splits = load_dataset("msmt17", tmp_path)
    assert [(s.pid, s.camid) for s in splits.train] == [(0, 0), (1, 4), (1, 11)]  # train + val
    assert [(s.pid, s.camid) for s in splits.query] == [(0, 2), (2, 14)]
    assert [(s.pid, s.camid) for s in splits.gallery] == [(0, 6), (2, 14), (2, 1)]
    assert all(s.path.is_file() for s in splits.train + splits.query + splits.gallery)
    assert camera_of("0000_000_01_0303morning_0015_0.jpg") == 0
    assert camera_of("0000.jpg") is None


def test_msmt17_missing_image_and_bad_line_are_named(tmp_path):
    folder = make_msmt17(tmp_path, 1)
    (folder / "test" / "0002" / "0002_012_02_0113noon_0300_0.jpg").unlink()
    with pytest.raises(DataError, match=r"1 of the images listed in .*list_gallery.txt"):
        load_dataset("msmt17", tmp_path)
    lenient = load_dataset("msmt17", tmp_path, strict=False)
    assert len(lenient.gallery) == 2 and len(lenient.problems) == 1
    with open(folder / "list_query.txt", "a") as f:
        f.write("not a line\n")
    with pytest.raises(DataError, match="do not read as <pid>/<name>.jpg <label>"):
        load_dataset("msmt17", tmp_path)


def test_datasets_check_counts_the_field_sets(tmp_path, capsys):
    make_occluded_duke(tmp_path)
    make_p_dukemtmc(tmp_path)
    make_msmt17(tmp_path)
    report = check_root(tmp_path, verify_images=False)
    assert set(report) == {"occluded_duke", "p_dukemtmc", "msmt17"}
    duke = report["occluded_duke"]
    assert (duke["train"]["ids"], duke["train"]["images"]) == (2, 3)
    assert (duke["query"]["expected_ids"], duke["query"]["expected_images"]) == (519, 2210)
    assert (report["msmt17"]["gallery"]["ids"], report["msmt17"]["gallery"]["images"]) == (2, 3)
    assert report["p_dukemtmc"]["train"]["expected_images"] == 12927
    assert main(["datasets", "check", "--root", str(tmp_path), "--json", "--no-verify"]) in (0, 1)
    printed = json.loads(capsys.readouterr().out)
    assert printed["msmt17"]["train"]["images"] == 3
