"""Real-format loaders on tiny trees: layouts, name parsing, labels, DensePose decoding, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import reid_datasets
from benchmark.errors import ConfigError, DataError, UserError
from reid_datasets import load_dataset
from reid_datasets.base import DATASETS, CocoInstance, ExpectedCounts
from reid_datasets.coco_densepose import (
    box_edges,
    crop_instance,
    decode_dp_masks,
    instance_part_map,
)
from reid_datasets.layout import list_images
from tests.datasets.real_trees import (
    make_coco,
    make_ilids_2018,
    make_ilids_2019,
    make_market,
    make_occluded_reid,
    make_partial_reid,
    quadrant_dp_masks,
    write_image,
)


def _keys(samples) -> list[tuple[str, int, int]]:
    return [(s.path.name, s.pid, s.camid) for s in samples]


# --- package and layout helpers ------------------------------------------------------------


def test_package_registers_every_builtin():
    names = set(reid_datasets.list_datasets())
    expected = {
        "market1501",
        "partial_reid",
        "partial_ilids_2018",
        "partial_ilids_2019",
        "occluded_reid",
        "coco_densepose",
    }
    assert expected <= names, f"missing loaders: {expected - names}"
    for name in expected:
        assert isinstance(DATASETS.meta(name)["expected"], ExpectedCounts), name


def test_list_images_accepts_extension_variants_and_skips_clutter(tmp_path):
    for name in ("a.jpg", "b.JPG", "c.jpeg", "d.png", "e.TIF", "f.tiff", "g.bmp"):
        write_image(tmp_path / name)
    for name in ("Thumbs.db", ".DS_Store", "desktop.ini", "notes.txt", "._a.jpg"):
        (tmp_path / name).write_bytes(b"x")
    write_image(tmp_path / "sub" / "h.jpg")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.jpg", "b.JPG", "c.jpeg", "d.png", "e.TIF", "f.tiff", "g.bmp"], names
    deep = [p.name for p in list_images(tmp_path, recursive=True)]
    assert deep[-1] == "h.jpg" and len(deep) == 8, deep


# --- Market-1501 ---------------------------------------------------------------------------


def test_market_parses_names_drops_junk_keeps_distractor(tmp_path):
    make_market(tmp_path)
    splits = load_dataset("market1501", tmp_path)
    assert _keys(splits.train) == [
        ("0002_c1s1_000451_03.jpg", 2, 0),
        ("0002_c2s1_000551_01.jpg", 2, 1),
        ("0007_c3s1_000101_01.jpg", 7, 2),
    ], "train pids/camids (camera number - 1) or order wrong"
    assert [s.pid for s in splits.query] == [3, 5] and [s.camid for s in splits.query] == [0, 5]
    gallery = _keys(splits.gallery)
    assert all(pid != -1 for _, pid, _ in gallery), "junk (-1) must be dropped at load"
    assert ("0000_c4s1_000003_00.jpg", 0, 3) in gallery, "distractor 0000 must stay as pid 0"
    assert len(gallery) == 3 and splits.problems == (), (gallery, splits.problems)
    assert all(s.label_path is None for s in splits.train), "no labels unless asked"


@pytest.mark.parametrize(
    "base",
    ["market1501/Market-1501-v15.09.15", "MARKET-1501-V15.09.15", "Market-1501"],
)
def test_market_accepts_official_nesting_and_spelling_variants(tmp_path, base):
    make_market(tmp_path, base=base)
    (tmp_path / base / "query").rename(tmp_path / base / "Query")  # capitalisation variant
    splits = load_dataset("market1501", tmp_path)
    assert (len(splits.train), len(splits.query), len(splits.gallery)) == (3, 2, 3), base


@pytest.mark.parametrize("kind", ["ps", "gt"])
def test_market_attaches_label_pngs(tmp_path, kind):
    make_market(tmp_path, labels=kind)
    splits = load_dataset("market1501", tmp_path, labels=kind)
    for sample in splits.train + splits.query + splits.gallery:
        assert sample.label_path is not None, sample.path
        assert sample.label_path.name == sample.path.stem + ".png"
        assert sample.label_path.parent.parent.name == f"Market-1501-v15.09.15_{kind}_label"


def test_market_labels_in_official_nesting(tmp_path):
    make_market(tmp_path, base="market1501/Market-1501-v15.09.15", labels="ps")
    splits = load_dataset("market1501", tmp_path, labels="ps")
    assert all(s.label_path is not None and s.label_path.is_file() for s in splits.train)


def test_market_missing_label_is_one_line_error_naming_count_and_first(tmp_path):
    make_market(tmp_path, labels="ps")
    label_train = tmp_path / "Market-1501-v15.09.15_ps_label" / "bounding_box_train"
    (label_train / "0002_c2s1_000551_01.png").unlink()
    (label_train / "0007_c3s1_000101_01.png").unlink()
    with pytest.raises(DataError) as err:
        load_dataset("market1501", tmp_path, labels="ps")
    message = str(err.value)
    assert "2 of 3" in message and "0002_c2s1_000551_01.png" in message, message
    assert "\n" not in message, "errors must be one line"
    lenient = load_dataset("market1501", tmp_path, labels="ps", strict=False)
    assert len(lenient.problems) == 1 and lenient.train[1].label_path is None, lenient.problems


def test_market_label_tree_missing_or_unknown_kind(tmp_path):
    make_market(tmp_path)
    with pytest.raises(DataError, match="Market-1501-v15.09.15_ps_label not found"):
        load_dataset("market1501", tmp_path, labels="ps")
    with pytest.raises(ConfigError, match="ps, gt"):
        load_dataset("market1501", tmp_path, labels="oracle")


def test_missing_root_and_missing_dataset_folder_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("market1501", tmp_path / "nowhere")
    with pytest.raises(DataError) as err:
        load_dataset("market1501", tmp_path)
    message = str(err.value)
    assert message.startswith("market1501: folder Market-1501-v15.09.15 not found under"), message
    assert "market1501/Market-1501-v15.09.15" in message, "the accepted nestings must be listed"


def test_missing_split_folder_empty_folder_and_bad_name(tmp_path):
    market = make_market(tmp_path)
    shutil.rmtree(market / "query")
    with pytest.raises(DataError, match="folder query not found"):
        load_dataset("market1501", tmp_path)
    (market / "query").mkdir()
    (market / "query" / "Thumbs.db").write_bytes(b"x")  # clutter only: still empty
    with pytest.raises(DataError, match="holds no images"):
        load_dataset("market1501", tmp_path)
    write_image(market / "query" / "0003_c1s1_000001_00.jpg")
    write_image(market / "query" / "holiday photo.jpg")
    with pytest.raises(DataError, match=r"1 file name\(s\).*first: holiday photo.jpg"):
        load_dataset("market1501", tmp_path)
    lenient = load_dataset("market1501", tmp_path, strict=False)
    assert [s.pid for s in lenient.query] == [3], "parseable names must still load"
    assert len(lenient.problems) == 1 and "holiday photo.jpg" in lenient.problems[0]


# --- Partial-REID, Partial-iLIDS, Occluded-REID --------------------------------------------


def test_partial_reid_query_folder_choice(tmp_path):
    make_partial_reid(tmp_path)
    (tmp_path / "Partial-REID_Dataset" / "occluded_body_images" / "001_01.jpg").unlink()
    default = load_dataset("partial_reid", tmp_path)
    assert default.info == {"query_folder": "partial_body_images"}
    assert len(default.query) == 6 and len(default.gallery) == 6
    assert {s.camid for s in default.query} == {0} and {s.camid for s in default.gallery} == {1}
    assert [s.pid for s in default.query] == [1, 1, 2, 2, 3, 3]
    occluded = load_dataset("partial_reid", tmp_path, query_folder="occluded_body_images")
    assert len(occluded.query) == 5, "the occluded query folder must be the one read"
    assert occluded.query[0].path.parent.name == "occluded_body_images"
    with pytest.raises(UserError, match="partial_body_images, occluded_body_images"):
        load_dataset("partial_reid", tmp_path, query_folder="whole_body_images")
    # the other folder is scored too, against the same gallery: every table names both
    assert list(default.extra_queries) == ["occluded_body_images"]
    assert len(default.extra_queries["occluded_body_images"]) == 5
    assert list(occluded.extra_queries) == ["partial_body_images"]
    shutil.rmtree(tmp_path / "Partial-REID_Dataset" / "occluded_body_images")
    assert load_dataset("partial_reid", tmp_path).extra_queries == {}, "a release without it"


def test_partial_reid_nested_and_alias(tmp_path):
    make_partial_reid(tmp_path, base="partial_reid/Partial-REID_Dataset")
    assert len(load_dataset("partial_reid", tmp_path).gallery) == 6
    other = tmp_path / "other"
    make_partial_reid(other, base="Partial_REID")
    assert len(load_dataset("partial_reid", other).query) == 6


@pytest.mark.parametrize("base", ["Partial_iLIDS", "partial_ilids/Partial_iLIDS", "partial_iLIDS"])
def test_partial_ilids_2018_layouts(tmp_path, base):
    make_ilids_2018(tmp_path, base=base)
    splits = load_dataset("partial_ilids_2018", tmp_path)
    assert _keys(splits.query) == [("1.jpg", 1, 0), ("2.jpg", 2, 0), ("3.jpg", 3, 0)]
    assert [s.camid for s in splits.gallery] == [1, 1, 1]


@pytest.mark.parametrize("base", ["PartialILIDS", "partial_ilids_fpr/PartialILIDS"])
def test_partial_ilids_2019_pid_is_first_four_characters(tmp_path, base):
    make_ilids_2019(tmp_path, base=base)
    splits = load_dataset("partial_ilids_2019", tmp_path)
    assert [s.pid for s in splits.query] == [1, 1, 4]
    assert [s.pid for s in splits.gallery] == [1, 4, 9]
    assert {s.camid for s in splits.gallery} == {1}


def test_ilids_releases_side_by_side_are_not_confused(tmp_path):
    make_ilids_2018(tmp_path, base="partial_ilids/Partial_iLIDS", ids=5)
    make_ilids_2019(tmp_path, base="partial_ilids_fpr/PartialILIDS")
    assert len(load_dataset("partial_ilids_2018", tmp_path).query) == 5
    assert len(load_dataset("partial_ilids_2019", tmp_path).gallery) == 3


def test_ilids_2019_bad_name(tmp_path):
    folder = make_ilids_2019(tmp_path)
    write_image(folder / "Probe" / "x1.jpg")
    with pytest.raises(DataError, match="x1.jpg"):
        load_dataset("partial_ilids_2019", tmp_path)


def test_occluded_reid_tif_folders_and_flat_jpg_agree(tmp_path):
    make_occluded_reid(tmp_path / "a", tif_folders=True)
    make_occluded_reid(tmp_path / "b", base="occluded_reid/Occluded_REID", tif_folders=False)
    tif = load_dataset("occluded_reid", tmp_path / "a")
    jpg = load_dataset("occluded_reid", tmp_path / "b")
    assert tif.query[0].path.suffix == ".tif" and tif.query[0].path.parent.name == "001"
    for split in ("query", "gallery"):
        a, b = getattr(tif, split), getattr(jpg, split)
        assert [(s.pid, s.camid) for s in a] == [(s.pid, s.camid) for s in b], split
        assert [s.path.stem for s in a] == [s.path.stem for s in b], split
    assert len(tif.query) == 6 and {s.camid for s in tif.gallery} == {1}


# --- COCO DensePose -------------------------------------------------------------------------


def test_decode_dp_masks_later_parts_overwrite():
    label14 = decode_dp_masks(quadrant_dp_masks())
    assert label14.shape == (256, 256) and label14.dtype == np.uint8
    assert (label14[:128] == 14).all(), "head (14) must overwrite torso on the top half"
    assert (label14[128:, :128] == 1).all() and (label14[128:, 128:] == 4).all()
    with pytest.raises(DataError, match="expected 14"):
        decode_dp_masks(quadrant_dp_masks()[:13])


def test_instance_part_map_lands_codes_in_the_box(tmp_path):
    instance = CocoInstance(
        tmp_path / "unused.jpg", 1, (10.7, 20.2, 64.0, 128.5), tuple(quadrant_dp_masks())
    )
    edges = box_edges(instance.bbox)
    assert (edges.left, edges.top, edges.right, edges.bottom) == (10, 20, 74, 148), "floor edges"
    part7 = instance_part_map(instance, image_size=(300, 200))
    assert part7.shape == (128, 64) and part7.dtype == np.uint8
    assert (part7[:64] == 1).all(), "head -> code 1 on the top half"
    assert (part7[64:, :32] == 2).all(), "torso -> code 2 bottom-left"
    assert (part7[64:, 32:] == 7).all(), "left foot -> code 7 bottom-right"


def test_box_leaving_the_image_is_cropped_not_squashed(tmp_path):
    instance = CocoInstance(
        tmp_path / "unused.jpg", 1, (68.0, 0.0, 64.0, 128.0), tuple(quadrant_dp_masks())
    )
    part7 = instance_part_map(instance, image_size=(100, 200))
    assert part7.shape == (128, 32), "box clipped at the right image edge"
    assert (part7[64:] == 2).all(), "only the left (torso) half of the box lies in the image"


def test_crop_instance_matches_box_and_map(tmp_path):
    xs, ys = np.meshgrid(np.arange(300), np.arange(200))
    pixels = np.stack([xs % 256, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "img.png")
    instance = CocoInstance(
        tmp_path / "img.png", 5, (10.7, 20.2, 64.0, 128.5), tuple(quadrant_dp_masks())
    )
    crop, part7 = crop_instance(instance)
    assert crop.size == (part7.shape[1], part7.shape[0]) == (64, 128)
    assert crop.getpixel((0, 0))[:2] == (10, 20), "crop starts at the floored box corner"


def test_coco_loader_keeps_instances_with_dp_masks(tmp_path):
    make_coco(tmp_path)
    splits = load_dataset("coco_densepose", tmp_path)
    assert [inst.ann_id for inst in splits.train] == [11, 12]
    assert splits.train[0].image_path.parent.name == "train2014"
    assert splits.train[1].image_path.parent.name == "val2014", "resolved by the file name"
    assert splits.info["skipped_without_dp_masks"] == "1"
    assert len(splits.train[0].dp_masks) == 14 and splits.train[0].bbox == (10.7, 20.2, 64.0, 128.5)
    assert splits.query == () and splits.gallery == ()
    with pytest.raises(ConfigError, match="train, val, minival"):
        load_dataset("coco_densepose", tmp_path, splits=("test",))


def test_coco_bad_inputs_are_one_line_data_errors(tmp_path):
    coco = make_coco(tmp_path)
    ann_file = coco / "annotations" / "densepose_coco_2014_train.json"
    data = json.loads(ann_file.read_text())
    data["annotations"][0]["dp_masks"] = data["annotations"][0]["dp_masks"][:12]
    ann_file.write_text(json.dumps(data))
    with pytest.raises(DataError, match="annotation 11 .* 12 dp_masks, expected 14"):
        load_dataset("coco_densepose", tmp_path)
    lenient = load_dataset("coco_densepose", tmp_path, strict=False)
    assert [i.ann_id for i in lenient.train] == [12] and len(lenient.problems) == 1
    data["annotations"][0]["dp_masks"] = quadrant_dp_masks()
    ann_file.write_text(json.dumps(data))
    (coco / "val2014" / "COCO_val2014_000000000002.jpg").unlink()
    with pytest.raises(DataError, match="annotation 12 .*COCO_val2014_000000000002.jpg not found"):
        load_dataset("coco_densepose", tmp_path)
    ann_file.write_text('{"images": [], "annotations": [')
    with pytest.raises(DataError, match="densepose_coco_2014_train.json as JSON") as err:
        load_dataset("coco_densepose", tmp_path)
    assert "\n" not in str(err.value)
    ann_file.unlink()
    with pytest.raises(DataError, match="densepose_coco_2014_train.json not found"):
        load_dataset("coco_densepose", tmp_path)


def test_loaders_do_not_decode_images(tmp_path):
    market = make_market(tmp_path)
    (market / "query" / "0003_c1s1_000001_00.jpg").write_bytes(b"not an image")
    splits = load_dataset("market1501", tmp_path)
    assert len(splits.query) == 2, "loading parses names only; check decodes images"


def test_loaders_return_sorted_paths(tmp_path):
    make_occluded_reid(tmp_path)
    splits = load_dataset("occluded_reid", tmp_path)
    paths = [Path(s.path) for s in splits.query]
    assert paths == sorted(paths), "samples must come in sorted, deterministic order"


def test_a_plugin_set_missing_under_the_root_is_one_line_before_its_loader_runs(
    tmp_path, monkeypatch
):
    from reid_datasets.base import DatasetInfo
    from reid_datasets.layout import DatasetLayout

    def loader(root, strict=True):
        raise AssertionError("the loader must not run on a folder that is not there")

    layout = DatasetLayout("my_set", ("MySet", "my_set/MySet"), ("query", "gallery"))
    monkeypatch.setitem(DATASETS._entries, "my_set", loader)
    monkeypatch.setitem(DATASETS._meta, "my_set", {"info": DatasetInfo("My set", layout=layout)})
    with pytest.raises(DataError, match="my_set: folder MySet not found under .*MySet, my_set/"):
        load_dataset("my_set", tmp_path)
