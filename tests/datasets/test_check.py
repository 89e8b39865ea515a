"""`datasets check` and `export-labels` logic on tiny real-format trees."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import ConfigError, DataError
from reid_datasets import coco_densepose, load_dataset
from reid_datasets.base import register_dataset
from reid_datasets.check import (
    EXTRA_QUERY_KEY,
    check_root,
    checked_datasets,
    failures,
    format_report,
)
from reid_datasets.coco_densepose import instance_part_map
from reid_datasets.export import export_labels
from tests.datasets.real_trees import (
    make_all,
    make_coco,
    make_ilids_2018,
    make_market,
    rle,
    write_image,
    write_label,
)

SPLIT_KEYS = {"ids", "images", "expected_ids", "expected_images"}


def _split_entries(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("problems", "labels")}


def test_check_root_json_shape_and_counts(tmp_path):
    report = check_root(make_all(tmp_path))
    assert set(report) == {
        "market1501",
        "partial_reid",
        "partial_ilids_2018",
        "partial_ilids_2019",
        "occluded_reid",
        "coco_densepose",
    }
    json.dumps(report)  # must be JSON-ready as it is
    for name, entry in report.items():
        assert isinstance(entry["problems"], list), name
        for split, counts in _split_entries(entry).items():
            assert set(counts) == SPLIT_KEYS, (name, split, counts)
    market = report["market1501"]
    assert set(_split_entries(market)) == {"train", "query", "gallery"}
    assert market["train"] == {
        "ids": 2,
        "images": 3,
        "expected_ids": 751,
        "expected_images": 12936,
    }
    # junk dropped, distractor counted as an image but not an identity
    assert (market["gallery"]["ids"], market["gallery"]["images"]) == (2, 3), market["gallery"]
    assert market["gallery"]["expected_images"] == 15913
    assert set(_split_entries(report["occluded_reid"])) == {"query", "gallery"}
    assert report["partial_ilids_2019"]["gallery"]["expected_ids"] == 109


def test_registered_data_sets_checked_by_role_in_table_order():
    assert checked_datasets() == [
        "market1501",  # train (and holistic test)
        "partial_reid",
        "partial_ilids_2018",
        "partial_ilids_2019",
        "occluded_reid",
        "occluded_duke",  # train and test on itself
        "p_dukemtmc",
        "msmt17",
        "coco_densepose",  # parsing
    ], checked_datasets()
    with pytest.raises(ConfigError, match="roles must be some of train, test, parsing"):
        register_dataset("bad_roles", roles=("eval",))


def test_counts_that_differ_are_reported_and_matching_ones_are_not(tmp_path):
    make_ilids_2018(tmp_path, ids=119)
    make_market(tmp_path)
    report = check_root(tmp_path)
    ilids = report["partial_ilids_2018"]
    assert ilids["query"] == {
        "ids": 119,
        "images": 119,
        "expected_ids": 119,
        "expected_images": 119,
    }
    assert ilids["problems"] == [], ilids["problems"]
    lines = report["market1501"]["problems"]
    assert any(line.startswith("market1501 train: found 2 ids / 3 images") for line in lines), lines


def test_partial_reid_extra_query_folder(tmp_path):
    make_all(tmp_path)
    entry = check_root(tmp_path, verify_images=False)["partial_reid"]
    assert set(_split_entries(entry)) == {"query", "gallery", EXTRA_QUERY_KEY}
    assert entry[EXTRA_QUERY_KEY]["images"] == 6 and entry[EXTRA_QUERY_KEY]["expected_ids"] == 60


def test_coco_entry_counts_instances_and_distinct_images(tmp_path):
    make_coco(tmp_path)
    entry = check_root(tmp_path)["coco_densepose"]
    assert entry["train"] == {"ids": 2, "images": 2, "expected_ids": None, "expected_images": None}
    assert entry["problems"] == []


def test_corrupt_image_reported_only_when_verifying(tmp_path):
    market = make_market(tmp_path)
    (market / "query" / "0003_c1s1_000001_00.jpg").write_bytes(b"not an image")
    lines = check_root(tmp_path)["market1501"]["problems"]
    bad = [line for line in lines if "cannot be decoded" in line]
    assert len(bad) == 1 and "0003_c1s1_000001_00.jpg" in bad[0] and "query" in bad[0], lines
    quick = check_root(tmp_path, verify_images=False)["market1501"]["problems"]
    assert not any("cannot be decoded" in line for line in quick), quick


def test_missing_and_wrong_size_labels(tmp_path):
    make_market(tmp_path, labels="ps")
    labels = tmp_path / "Market-1501-v15.09.15_ps_label"
    (labels / "bounding_box_train" / "0002_c1s1_000451_03.png").unlink()
    write_label(labels / "query" / "0003_c1s1_000001_00.png", size=(5, 8))
    write_label(labels / "query" / "0005_c6s1_000002_00.png", value=9)
    entry = check_root(tmp_path)["market1501"]
    coverage = entry["labels"]["ps"]
    assert coverage["train"] == {"images": 3, "labeled": 2, "missing": 1, "wrong_size": 0}
    assert coverage["query"]["wrong_size"] == 1 and coverage["gallery"]["missing"] == 0
    text = " | ".join(entry["problems"])
    assert "1 of 3 ps label PNGs missing" in text, text
    assert "1 PNG(s) differ in size" in text, text
    assert "not single-channel 0-7 maps" in text and "0005_c6s1_000002_00.png" in text, text


def test_missing_and_empty_split_folders_are_problems(tmp_path):
    market = make_market(tmp_path)
    shutil.rmtree(market / "query")
    for image in (market / "bounding_box_test").glob("*.jpg"):
        image.unlink()
    entry = check_root(tmp_path)["market1501"]
    assert entry["query"]["images"] == 0 and entry["train"]["images"] == 3
    text = " | ".join(entry["problems"])
    assert "folder query not found" in text and "holds no images" in text, text


def test_bad_names_malformed_json_and_wrong_dp_masks_are_problems(tmp_path):
    market = make_market(tmp_path)
    write_image(market / "query" / "IMG_0001.jpg")
    coco = make_coco(tmp_path)
    ann_file = coco / "annotations" / "densepose_coco_2014_train.json"
    data = json.loads(ann_file.read_text())
    data["annotations"][1]["dp_masks"] = data["annotations"][1]["dp_masks"] + [[]]
    ann_file.write_text(json.dumps(data))
    report = check_root(tmp_path)
    assert any("IMG_0001.jpg" in line for line in report["market1501"]["problems"])
    coco_lines = report["coco_densepose"]["problems"]
    assert any("annotation 12" in line and "15 dp_masks" in line for line in coco_lines), coco_lines
    assert report["coco_densepose"]["train"]["images"] == 1
    ann_file.write_text("{not json")
    coco_entry = check_root(tmp_path)["coco_densepose"]
    assert coco_entry["train"]["images"] == 0
    assert any("as JSON" in line for line in coco_entry["problems"]), coco_entry["problems"]


def test_nothing_found_and_missing_root(tmp_path):
    assert check_root(tmp_path) == {}
    assert format_report({}).startswith("No data set found"), format_report({})
    assert failures({}, tmp_path) == [
        f"no data set found under {tmp_path}; pass the folder holding the unpacked releases"
    ], "a root with no data set at all fails the check (exit 1), not a silent pass"
    with pytest.raises(DataError, match="does not exist"):
        check_root(tmp_path / "nowhere")


def test_format_report_lists_splits_status_and_problems(tmp_path):
    make_ilids_2018(tmp_path, ids=119)
    make_market(tmp_path, labels="ps")
    text = format_report(check_root(tmp_path))
    assert "partial_ilids_2018" in text and "| ok" in text, text
    assert "| Partial-iLIDS'18 " in text and "| Market-1501 " in text, "registered display names"
    assert text.index("Market-1501") < text.index("Partial-iLIDS'18"), "train set first, by role"
    assert "12,936" in text and "differs" in text, text
    assert "market1501 ps labels: train 3/3" in text, text
    assert "problem: market1501 train: found 2 ids" in text, text


def test_export_labels_writes_box_sized_part_maps(tmp_path):
    make_coco(tmp_path)
    out = tmp_path / "labels"
    assert export_labels(tmp_path, out) == 2
    assert sorted(p.name for p in out.iterdir()) == ["11.png", "12.png"], "no tmp files left"
    instances = load_dataset("coco_densepose", tmp_path).train
    for instance in instances:
        with Image.open(out / f"{instance.ann_id}.png") as png:
            assert png.mode == "L", png.mode
            written = np.asarray(png)
        np.testing.assert_array_equal(written, instance_part_map(instance))
    assert written.shape == (128, 32), "the clipped box size"
    with pytest.raises(ConfigError, match="coco_densepose"):
        export_labels(tmp_path, out, dataset="market1501")


def _corrupt_masks(coco, changes: dict[tuple[int, int], object]) -> None:
    """Replace dp_masks[part] of annotation index ``i`` for each ``(i, part)``."""
    ann_file = coco / "annotations" / "densepose_coco_2014_train.json"
    data = json.loads(ann_file.read_text())
    for (i, part), mask in changes.items():
        data["annotations"][i]["dp_masks"][part] = mask
    ann_file.write_text(json.dumps(data))


def test_every_dp_mask_is_decoded_and_the_first_bad_annotation_named(tmp_path):
    coco = make_coco(tmp_path)
    small = rle(np.ones((16, 16), np.uint8)) | {"size": [256, 256]}  # runs tile 256 pixels
    _corrupt_masks(coco, {(1, 13): {"size": [256, 256], "counts": "zzzz"}, (0, 0): small})
    (line,) = check_root(tmp_path)["coco_densepose"]["problems"]
    assert line.startswith("coco_densepose: 2 annotation(s) have dp_masks that do not decode"), line
    assert (
        "densepose_coco_2014_train.json: annotation 11 (image COCO_train2014_000000000001.jpg)"
        in line
    ), line
    assert "part 1 is not a valid RLE mask (its runs cover 256 pixels, not 65536)" in line, line
    with pytest.raises(DataError, match="part 14 .*not an RLE character"):
        coco_densepose.decode_dp_masks(load_dataset("coco_densepose", tmp_path).train[1].dp_masks)


def test_failures_ignore_count_differences_and_name_missing_sets(tmp_path):
    make_all(tmp_path)
    (tmp_path / "Occluded_REID").rename(tmp_path / "elsewhere")
    report = check_root(tmp_path)
    assert failures(report, tmp_path) == [], "a subset of the release is usable"
    (line,) = failures(report, tmp_path, ["market1501", "occluded_reid"])
    assert line.startswith(f"occluded_reid is missing under {tmp_path} (looked for Occluded_REID")
    write_image(tmp_path / "Market-1501-v15.09.15" / "query" / "IMG_0001.jpg")
    (line,) = failures(check_root(tmp_path), tmp_path, ["market1501"])
    assert line.startswith("market1501 has 1 problem(s), first:") and "IMG_0001.jpg" in line


def test_datasets_check_exit_status(tmp_path, capsys):
    from benchmark.__main__ import main

    make_all(tmp_path)
    check = ["datasets", "check", "--root", str(tmp_path), "--no-verify"]
    assert main([*check, "--need", "default"]) == 0, capsys.readouterr().err
    (tmp_path / "Occluded_REID").rename(tmp_path / "elsewhere")
    assert main(check) == 0, "nothing found is broken"
    capsys.readouterr()
    assert main([*check, "--need", "market1501", "occluded_reid"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("datasets check FAILED: occluded_reid is missing"), (
        err
    )
    assert f"under {tmp_path} (looked for Occluded_REID, " in err[0], err
    _corrupt_masks(tmp_path / "coco", {(0, 0): {"size": [256, 256], "counts": "0"}})
    assert main(check) == 1, "plain check: a found data set with problems fails"
    assert "coco_densepose has 1 problem(s)" in capsys.readouterr().err
    assert main([*check, "--need", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nosuch" in err[0], err
