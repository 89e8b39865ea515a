"""Tests of the synthetic data generator: formats, counts, determinism, caching, labels."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from benchmark.errors import ConfigError, DataError, UserError
from reid_datasets.base import load_dataset
from reid_datasets.parts import densepose14_to_7
from reid_datasets.synthetic import MARKER, SynthConfig, generate, synth_config
from reid_datasets.synthetic.cameras import make_camera
from reid_datasets.synthetic.coco import render_scene, scene_cameras
from reid_datasets.synthetic.figure import draw_person
from reid_datasets.synthetic.generate import plan_jobs
from reid_datasets.synthetic.occluders import draw_occluder
from reid_datasets.synthetic.people import sample_identities, walking_pose
from reid_datasets.synthetic.render import Framing, render_shot
from reid_datasets.synthetic.sets import make_pools
from reid_datasets.synthetic.writers import box_to_dp, label_relpath, market_name

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

MARKET_RE = re.compile(r"^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
FLAT_RE = re.compile(r"^(\d{3})_(\d{2})\.jpg$")


def tiny(**overrides) -> SynthConfig:
    base = dict(
        train_ids=4,
        train_images_per_id=3,
        test_ids=3,
        query_per_id=2,
        gallery_per_id=3,
        distractors=2,
        junk=2,
        scale_occluded_sets=0.05,
        coco_images=3,
    )
    return synth_config("smoke", **{**base, **overrides})


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    assert generate(root, tiny(), progress=False), "a fresh root must be generated"
    return root


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def market(tree: Path, split: str) -> list[tuple[int, int]]:
    out = []
    for name in files(tree / "Market-1501-v15.09.15" / split):
        m = MARKET_RE.match(name)
        assert m, f"{split}/{name} is not a Market-1501 name"
        out.append((int(m[1]), int(m[2])))
    return out


def test_market_counts_names_and_cameras(tree):
    cfg = tiny()
    train, query, gallery = (
        market(tree, s) for s in ("bounding_box_train", "query", "bounding_box_test")
    )
    assert len(train) == cfg.train_ids * cfg.train_images_per_id
    train_ids = {p for p, _ in train}
    assert len(train_ids) == cfg.train_ids
    assert len(query) == cfg.test_ids * cfg.query_per_id
    counts = Counter(p for p, _ in gallery)
    assert counts[0] == cfg.distractors and counts[-1] == cfg.junk, f"gallery pids {counts}"
    test_ids = {p for p, _ in query}
    assert len(test_ids) == cfg.test_ids and not test_ids & train_ids, "train/test ids overlap"
    assert all(1 <= c <= cfg.cameras for _, c in train + query + gallery), "camera out of range"
    for pid, cam in query:
        assert any(p == pid and c != cam for p, c in gallery), f"query {pid} c{cam} has no match"


def test_occluded_partial_set_counts_and_names(tree):
    for folder in ("partial_body_images", "occluded_body_images", "whole_body_images"):
        names = files(tree / "Partial-REID_Dataset" / folder)
        assert all(FLAT_RE.match(n) for n in names), f"bad Partial-REID names {names[:3]}"
        assert len(names) == 3 * 5, f"Partial-REID {folder}: {len(names)} images"
    for folder in ("occluded_body_images", "whole_body_images"):
        names = files(tree / "Occluded_REID" / folder)
        assert len(names) == 10 * 5 and all(FLAT_RE.match(n) for n in names), folder
    probe, gal = (files(tree / "Partial_iLIDS" / f) for f in ("Probe", "Gallery"))
    assert probe == gal and len(probe) == 6, "Partial-iLIDS 2018: one probe, one gallery per id"
    assert all(re.match(r"^\d{3}\.jpg$", n) for n in probe), probe
    probe, gal = (files(tree / "PartialILIDS" / f) for f in ("Probe", "Gallery"))
    q_ids, g_ids = {n[:4] for n in probe}, {n[:4] for n in gal}
    assert len(probe) == len(gal) == 12, "2019 release: 238 * 0.05 images per side"
    assert len(q_ids) == len(g_ids) == 5 and q_ids <= g_ids, "every query id is in the gallery"


def test_real_counts_at_scale_one():
    cfg = SynthConfig(train_ids=2, test_ids=2, coco_images=1)
    jobs = Counter()
    for job in plan_jobs(cfg):
        for path in job.paths:
            jobs[path.rsplit("/", 1)[0]] += 1
    assert jobs["Partial-REID_Dataset/partial_body_images"] == 300
    assert jobs["Occluded_REID/occluded_body_images"] == 1000
    assert jobs["Partial_iLIDS/Probe"] == jobs["Partial_iLIDS/Gallery"] == 119
    assert jobs["PartialILIDS/Probe"] == jobs["PartialILIDS/Gallery"] == 238
    q_ids = {j.paths[0].split("/")[-1][:4] for j in plan_jobs(cfg) if "ILIDS/Probe" in j.paths[0]}
    assert len(q_ids) == 107, f"2019 query ids {len(q_ids)}"


def test_label_pngs_match_images(tree):
    images = [p for p in tree.rglob("*.jpg") if p.relative_to(tree).parts[0] != "coco"]
    assert len(images) > 200, f"only {len(images)} ReID images"
    sizes = set()
    for img_path in images:
        rel = img_path.relative_to(tree).as_posix()
        label = Image.open(tree / label_relpath(rel))
        img = Image.open(img_path)
        assert label.mode == "L" and label.size == img.size, f"{rel}: label {label.size}"
        values = np.unique(np.asarray(label))
        assert values.min() >= 0 and values.max() <= 7, f"{rel}: label values {values}"
        if "partial_body_images" in rel:
            sizes.add(img.size)
    assert len(sizes) > 5, f"partial images should have varied sizes, got {sizes}"
    name = "Market-1501-v15.09.15_gt_label/query"
    assert (tree / name).is_dir(), "Market labels live in the _gt_label tree"


def test_coco_dp_masks_match_what_was_drawn(tree):
    cfg = tiny()
    doc = json.loads((tree / "coco/annotations/densepose_coco_2014_train.json").read_text())
    assert len(doc["images"]) == cfg.coco_images and doc["categories"][0]["id"] == 1
    assert (tree / "coco/annotations/densepose_coco_2014_minival.json").is_file()
    cams = scene_cameras(cfg.seed)
    checked = 0
    for image in doc["images"]:
        assert (tree / "coco/train2014" / image["file_name"]).is_file(), image["file_name"]
        rng = np.random.default_rng([cfg.seed, 6, image["id"]])
        scene = render_scene(rng, cams[image["id"] % len(cams)], cfg.occlusion)
        anns = [a for a in doc["annotations"] if a["image_id"] == image["id"]]
        for ann in anns:
            assert len(ann["dp_masks"]) == 14 and ann["category_id"] == 1 and ann["iscrowd"] == 0
            label14 = np.zeros((256, 256), dtype=np.uint8)
            for k, rle in enumerate(ann["dp_masks"], start=1):
                if rle:
                    assert rle["size"] == [256, 256], rle["size"]
                    label14[mask_utils.decode(rle) > 0] = k
            x, y, w, h = (int(v) for v in ann["bbox"])
            label7 = densepose14_to_7(label14)
            back = np.asarray(Image.fromarray(label7).resize((w, h), Image.NEAREST))
            agree = [
                float((back == densepose14_to_7(p[y : y + h, x : x + w])).mean())
                for p in scene.people
            ]
            person = scene.people[int(np.argmax(agree))]
            assert max(agree) > 0.95, f"annotation {ann['id']}: {max(agree):.3f} agrees"
            drawn7 = densepose14_to_7(box_to_dp(person, (x, y, w, h)))
            assert np.array_equal(label7, drawn7), "14->7 of dp_masks != the drawn 7-part map"
            checked += 1
    assert checked >= cfg.coco_images, f"only {checked} annotations checked"


def test_coco_scenes_hold_people_cut_by_the_frame_as_densepose_coco_does():
    """Truncated people (feet below the frame, lower parts missing) teach parsing partial bodies."""
    cams = scene_cameras(0)
    cut = whole = 0
    for i in range(40):
        scene = render_scene(np.random.default_rng([0, 6, i]), cams[i % len(cams)], 0.4)
        for person in scene.people:
            if (person > 0).sum() < 150:
                continue
            bottom = person[-1] > 0
            cut += bool(bottom.any())
            whole += not bottom.any()
    assert cut >= 0.2 * (cut + whole), f"only {cut} of {cut + whole} people touch the bottom edge"
    assert whole >= 0.3 * (cut + whole), "whole people must stay common"


def test_deterministic_and_seed_dependent(tree, tmp_path):
    again = tmp_path / "again"
    assert generate(again, tiny(), progress=False)
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        other = again / path.relative_to(tree)
        assert other.read_bytes() == path.read_bytes(), f"{path.relative_to(tree)} differs"
    seeded = tmp_path / "seed1"
    generate(seeded, tiny(seed=1, sets=("market1501",)), progress=False)
    a = (tree / "Market-1501-v15.09.15/bounding_box_train").iterdir()
    b = (seeded / "Market-1501-v15.09.15/bounding_box_train").iterdir()
    assert [p.read_bytes() for p in sorted(a)] != [p.read_bytes() for p in sorted(b)]


def test_cache_and_regeneration(tmp_path):
    cfg = tiny(sets=("market1501", "occluded_reid"))
    assert generate(tmp_path, cfg, progress=False)
    stamp = (tmp_path / MARKER).stat().st_mtime_ns
    assert not generate(tmp_path, cfg, progress=False), "same config must be a cache hit"
    assert (tmp_path / MARKER).stat().st_mtime_ns == stamp, "a cache hit must write nothing"
    victim = next((tmp_path / "Occluded_REID/whole_body_images").iterdir())
    victim.unlink()
    assert generate(tmp_path, cfg, progress=False), "an incomplete tree must be regenerated"
    assert victim.is_file(), "the missing image is written again"
    assert generate(tmp_path, tiny(sets=("market1501",)), progress=False)
    assert not (tmp_path / "Occluded_REID").exists(), "the old tree is replaced"
    assert json.loads((tmp_path / MARKER).read_text())["config"]["sets"] == ["market1501"]


def test_refuses_foreign_data(tmp_path):
    (tmp_path / "Market-1501-v15.09.15").mkdir()
    with pytest.raises(DataError, match="not written by the synthetic generator"):
        generate(tmp_path, tiny(), progress=False)


def test_profiles_and_config_errors():
    assert synth_config("cpu") == SynthConfig(), "cpu is the default config"
    smoke = synth_config("smoke")
    assert smoke.scale_occluded_sets < 1 and smoke.coco_images < 100
    assert synth_config("smoke", seed=3).seed == 3
    with pytest.raises(UserError, match="unknown synthetic profile"):
        synth_config("gpu")
    with pytest.raises(ConfigError, match="unknown synthetic option"):
        synth_config("smoke", n_ids=3)
    with pytest.raises(ConfigError, match="occlusion"):
        synth_config("smoke", occlusion=1.5)
    with pytest.raises(ConfigError, match="must be an integer"):
        synth_config("smoke", train_ids="10")
    assert synth_config("smoke").digest() != synth_config("smoke", seed=1).digest()


def test_a_field_added_later_names_a_tree_as_before_at_its_old_value() -> None:
    # the cpu tree cached before frame_cut_tight_p (and its 0.5 cut share) keeps its folder hash
    old = synth_config("cpu", frame_cut_p=0.2, frame_cut_tight_p=0.0)
    assert old.digest() == "b9446fb674622508"
    assert synth_config("cpu", frame_cut_p=0.2).digest() != old.digest(), "set: a new hash"


def test_identities_differ_in_two_groups():
    people = sample_identities(np.random.default_rng(5), 400)
    worst = min(
        sum(x != y for x, y in zip(a.groups(), b.groups(), strict=True))
        for a, b in itertools.combinations(people, 2)
    )
    assert worst >= 2, f"two identities differ in only {worst} group(s)"
    pools = make_pools(tiny())
    everyone = [p for pool in vars(pools).values() for p in pool]
    assert len(set(everyone)) == len(everyone), "the same person is in two pools"


def test_occlusion_hides_the_requested_fraction():
    people = sample_identities(np.random.default_rng(0), 10)
    cam = make_camera(np.random.default_rng(0), 128, 64)
    for target in (0.2, 0.5):
        hidden = []
        for i in range(40):
            shot = render_shot(
                np.random.default_rng([i]),
                people[i % 10],
                cam,
                (128, 64),
                "occluded",
                occlusion=target,
            )
            hidden.append(1.0 - shot.visible_fraction)
            assert int((shot.label > 0).sum()) == int((shot.part14 > 0).sum())
        mean = float(np.mean(hidden))
        assert abs(mean - target) < 0.12, f"asked {target}, hid {mean:.3f} of the body on average"


def test_bottom_occluder_edge_is_accurate():
    ident = sample_identities(np.random.default_rng(1), 1)[0]
    pose = walking_pose(np.random.default_rng(2), 0.0, 0.1)
    body = draw_person(ident, pose, (128, 64), (32, 124), 110).mask
    for kind in ("box", "car", "plant"):
        occ = draw_occluder(np.random.default_rng(3), body, 0.4, 124, 110, kind=kind, side="bottom")
        hidden = float((body & occ.mask).sum() / body.sum())
        assert 0.3 < hidden < 0.5, f"{kind} hid {hidden:.3f} of the body, asked 0.4"


def test_figure_has_left_and_right_parts():
    ident = sample_identities(np.random.default_rng(1), 1)[0]
    pose = walking_pose(np.random.default_rng(2), 0.0, 0.0)
    fig = draw_person(ident, pose, (256, 128), (64, 250), 230)
    present = set(np.unique(fig.part14)) - {0}
    assert {1, 6, 7, 8, 9, 10, 11, 14} <= present, f"front view parts {sorted(present)}"
    assert set(np.unique(densepose14_to_7(fig.part14))) <= set(range(8))


def test_market_name_format():
    assert market_name(2, 1, 1, 451, 3) == "0002_c1s1_000451_03.jpg"
    assert market_name(-1, 6, 2, 7, 1) == "-1_c6s2_000007_01.jpg"
    assert label_relpath("Market-1501-v15.09.15/query/0002_c1s1_000451_03.jpg") == (
        "Market-1501-v15.09.15_gt_label/query/0002_c1s1_000451_03.png"
    )


# --- framing like real detector boxes (training images only) ------------------------------


def _framed(framing: Framing, n: int = 40) -> list:
    people = sample_identities(np.random.default_rng(3), 8)
    cam = make_camera(np.random.default_rng(4), 128, 64)
    return [
        render_shot(np.random.default_rng(i), people[i % 8], cam, (128, 64), "framed", 0.4, framing)
        for i in range(n)
    ]


def test_framed_people_vary_in_scale_and_position_within_the_ranges() -> None:
    shots = _framed(Framing(fill=(0.45, 1.0), offset=0.12, cut_p=0.0))
    heights, centres = [], []
    for shot in shots:
        rows, cols = np.flatnonzero(shot.label.any(1)), np.flatnonzero(shot.label.any(0))
        heights.append((rows.max() - rows.min() + 1) / 128)
        centres.append((cols.min() + cols.max()) / 2 / 64 - 0.5)
    assert 0.40 <= min(heights) < 0.6 and max(heights) > 0.85, f"fill range: {heights}"
    assert np.std(heights) > 0.1, "box tightness varies"
    assert np.std(centres) > 0.05, "people sit off-centre"
    person = sample_identities(np.random.default_rng(3), 1)[0]
    cam = make_camera(np.random.default_rng(4), 128, 64)
    holistic = render_shot(np.random.default_rng(0), person, cam, (128, 64))
    rows = np.flatnonzero(holistic.label.any(1))
    assert rows.max() >= 118, "the cameras' own framing keeps the feet at the bottom"


def test_cut_boxes_end_above_the_feet_and_fill_the_input() -> None:
    for shot in _framed(Framing(fill=(0.8, 0.9), cut_p=1.0, cut=(0.45, 0.55)), n=12):
        assert shot.image.shape == (128, 64, 3) and shot.label.shape == (128, 64)
        assert not (shot.label == 7).any(), "a box cut at the waist shows no feet"
        assert shot.label[-8:].any(), "the cut body reaches the bottom of the resized box"
        assert (shot.label == 1).any(), "the head is kept"


def _body_width(shot) -> float:
    cols = np.flatnonzero(shot.label.any(0))
    return (cols.max() - cols.min() + 1) / shot.label.shape[1]


def test_tight_cut_boxes_hug_the_body_across_and_others_keep_the_width() -> None:
    framing = Framing(fill=(0.8, 0.9), cut_p=1.0, cut=(0.45, 0.55))
    wide = [_body_width(s) for s in _framed(framing, n=12)]
    tight_framing = dataclasses.replace(framing, cut_tight_p=1.0)
    tight = [_body_width(s) for s in _framed(tight_framing, n=12)]
    assert max(wide) < 0.8, f"a box cut at the bottom only keeps the frame's width: {wide}"
    assert min(tight) > 0.8, f"a tight box is zoomed across to the body: {tight}"
    for shot in _framed(tight_framing, n=6):
        assert shot.image.shape == (128, 64, 3) and not (shot.label == 7).any()
        assert (shot.label == 1).any(), "the head is kept"


def test_only_market_training_images_are_framed() -> None:
    cfg = synth_config("smoke", framed_p=0.5)
    jobs = plan_jobs(cfg)
    train = [j for j in jobs if "bounding_box_train" in j.paths[0]]
    framed = [j for j in train if j.mode == "framed"]
    assert 0.3 < len(framed) / len(train) < 0.7, f"{len(framed)} of {len(train)} framed"
    assert all(j.mode != "framed" for j in jobs if j not in train), "test sets keep their framing"
    plain = plan_jobs(synth_config("smoke"))
    assert all(j.mode != "framed" for j in plain), "framed_p 0: no framed image"
    assert [j.paths for j in plain] == [j.paths for j in jobs], "the same images, other framing"


def test_framing_ranges_are_checked() -> None:
    with pytest.raises(ConfigError, match="frame_cut_min must be <= frame_cut_max"):
        synth_config("smoke", frame_cut_min=0.9, frame_cut_max=0.5)


def test_each_partial_crop_records_its_source_box_and_every_image_its_camera(tree) -> None:
    meta = pd.read_csv(tree / "synthetic_images.csv", keep_default_na=False)
    assert list(meta.columns) == ["path", "camera", "occluder", "visible_fraction", "source_box"]
    assert meta["camera"].ge(0).all(), "every image names its camera within its set"
    crops = meta[meta["path"].str.contains("partial_body_images")]
    assert len(crops) and crops["source_box"].ne("").all(), "every partial crop has its box"
    assert meta.loc[~meta.index.isin(crops.index), "source_box"].eq("").sum() > 0
    for row in crops.head(6).itertuples():
        y0, y1, x0, x1 = map(int, row.source_box.split())
        crop_label = tree / row.path.replace(
            "Partial-REID_Dataset", "Partial-REID_Dataset_gt_label"
        )
        source = crop_label.parent.parent / "occluded_body_images" / crop_label.name
        part = np.asarray(Image.open(crop_label.with_suffix(".png")))
        whole = np.asarray(Image.open(source.with_suffix(".png")))
        np.testing.assert_array_equal(whole[y0:y1, x0:x1], part, err_msg=row.path)


def test_the_camera_knob_gives_the_test_sets_market_cameras() -> None:
    from reid_datasets.synthetic.generate import set_cameras

    own, market = synth_config("smoke"), synth_config("smoke", test_cameras="market")
    assert set_cameras(own, "occluded_reid") != set_cameras(own, "market1501")[:5]
    shared = set_cameras(market, "occluded_reid")
    assert shared == set_cameras(market, "market1501")[:5], "the test sets see Market's cameras"
    assert set_cameras(market, "market1501") == set_cameras(own, "market1501"), "training as is"
    assert own.digest() != market.digest(), "a separate cached tree"


def test_occluded_duke_stand_in_is_drawn_only_when_asked_and_leaves_the_rest_alone(
    tmp_path,
) -> None:
    cfg = tiny(train_ids=20, train_images_per_id=6, test_ids=12)
    with_duke = synth_config("smoke", **{**cfg.to_dict(), "sets": (*cfg.sets, "occluded_duke")})
    plain, both = plan_jobs(cfg), plan_jobs(with_duke)
    assert all(j.set_name != "occluded_duke" for j in plain)
    assert [(j.paths, j.identity) for j in both if j.set_name != "occluded_duke"] == [
        (j.paths, j.identity) for j in plain
    ], "the other sets keep their people and images"
    duke = [j for j in both if j.set_name == "occluded_duke"]
    folder = {"bounding_box_train": [], "query": [], "bounding_box_test": []}
    for j in duke:
        assert re.match(r"^Occluded_Duke/\w+/\d{4}_c[1-8]_f\d{7}\.jpg$", j.paths[0]), j.paths
        folder[j.paths[0].split("/")[1]].append(j)
    assert all(j.mode == "occluded" for j in folder["query"]), "every query is occluded"
    train_occ = np.mean([j.mode == "occluded" for j in folder["bounding_box_train"]])
    assert 0.0 < train_occ < 0.3, "a share of the training set is occluded (9% in the release)"
    people = {id(j.identity) for j in duke}
    assert not people & {id(j.identity) for j in plain}, "its own people"
    train_ids = {j.paths[0].split("/")[2][:4] for j in folder["bounding_box_train"]}
    test_ids = {j.paths[0].split("/")[2][:4] for j in folder["bounding_box_test"]}
    query_ids = {j.paths[0].split("/")[2][:4] for j in folder["query"]}
    assert not train_ids & test_ids and query_ids < test_ids, "gallery-only ids exist too"
    root = tmp_path / "duke"
    generate(root, synth_config("smoke", sets=("occluded_duke",)), progress=False)
    splits = load_dataset("occluded_duke", root, labels="gt")
    for query in splits.query:  # a match in another camera for every query
        assert any(g.pid == query.pid and g.camid != query.camid for g in splits.gallery)
    assert all(s.label_path is not None for s in splits.train)
