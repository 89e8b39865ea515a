"""Human-parsing pipeline: parser training, the _ps_label tree, and scoring it against the truth."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from benchmark.commands.parse import add_parse_parser, run_parse
from benchmark.errors import ConfigError, UnknownNameError, UserError
from benchmark.human_parsing.config import ParseConfig, parse_profile
from benchmark.human_parsing.evaluate import count_pairs, evaluate_labels, label_pairs, score_counts
from benchmark.human_parsing.label import PROVENANCE, label_dataset, load_parser
from benchmark.human_parsing.model import NUM_CLASSES, PartParser
from benchmark.human_parsing.train import PartCrops, train_parser
from benchmark.loading.labels import read_label
from benchmark.loading.transforms import PairedTransform
from reid_datasets.base import load_dataset
from tests.benchmark.human_parsing.parsing_trees import (
    MARKET,
    MARKET_FOLDERS,
    make_coco,
    make_market,
)
from tests.datasets.real_trees import make_msmt17, make_occluded_duke, make_p_dukemtmc

CPU = torch.device("cpu")
# A parser small enough to train in seconds on 2 cores.
TINY = ParseConfig(
    backbone="resnet18_quarter",
    height=32,
    width=16,
    batch_size=16,
    iters=4,
    chunk=2,
    warmup=2,
    photometric=False,
    zoom_out=0.0,
    workers=0,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads thrash (5-7x slower steps)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A data root with a drawn DensePose set and a Market-1501 tree with ground truth."""
    root = tmp_path_factory.mktemp("parse_root")
    make_coco(root, n=24)
    make_market(root)
    return root


def coco(root: Path) -> tuple:
    return load_dataset("coco_densepose", root).train


@pytest.fixture(scope="module")
def learned(tree, tmp_path_factory) -> Path:
    """Checkpoint of a parser trained for 150 steps on 32x16 crops of the drawn set."""
    run = tmp_path_factory.mktemp("learned")
    cfg = dataclasses.replace(TINY, iters=150, chunk=50, lr=3e-3, warmup=10)
    log = train_parser(cfg, coco(tree), run, CPU)
    assert log["loss"].iloc[-1] < 0.6 * log["loss"].iloc[0], (
        f"loss did not fall: {log['loss'].tolist()}"
    )
    return run / "checkpoint.pt"


def copy_market(src: Path, dst: Path) -> Path:
    for name in (MARKET, MARKET + "_gt_label", "coco"):
        shutil.copytree(src / name, dst / name)
    return dst


# --- configuration ----------------------------------------------------------------------


def test_profile_overrides_are_typed():
    cfg = parse_profile(
        "smoke", ["iters=7", "lr=0.01", "flip=false", 'coco_splits=["train", "val"]']
    )
    assert (cfg.iters, cfg.lr, cfg.flip, cfg.coco_splits) == (7, 0.01, False, ("train", "val"))
    assert ParseConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg, "JSON round trip"


@pytest.mark.parametrize(
    ("profile", "sets", "error", "text"),
    [
        ("cpux", [], UnknownNameError, "did you mean cpu"),
        ("cpu", ["itres=5"], ConfigError, "unknown parse setting"),
        ("cpu", ["iters=five"], ConfigError, "must be an integer"),
        ("cpu", ["iters"], ConfigError, "KEY=VALUE"),
        ("cpu", ["height=8"], ConfigError, "at least 32x16"),
    ],
)
def test_bad_settings_are_one_line_errors(profile, sets, error, text):
    with pytest.raises(error, match=text) as info:
        parse_profile(profile, sets)
    assert "\n" not in str(info.value), "user errors are one line"


# --- model and data -----------------------------------------------------------------------


@pytest.mark.parametrize("attention", [True, False])
def test_parser_predicts_eight_classes_at_input_size(attention):
    model = PartParser("resnet18_quarter", attention=attention).eval()
    out = model(torch.randn(2, 3, 64, 32))
    assert out.shape == (2, NUM_CLASSES, 64, 32), f"logits shape {tuple(out.shape)}"


def test_crops_keep_seven_parts_and_zoom_out_adds_margin(tree):
    instances = coco(tree)[:6]
    tight = PartCrops(instances, (64, 32), PairedTransform(), zoom_out=0.0)
    wide = PartCrops(instances, (64, 32), PairedTransform(), zoom_out=0.8, cache=True)
    torch.manual_seed(0)
    for i in range(len(instances)):
        _, t_label = tight.crop(i)
        _, w_label = wide.crop(i)
        assert t_label.max() <= 7 and set(np.unique(t_label)) >= {1, 2, 5, 6, 7}, "7-part codes"
        assert (w_label == 0).mean() > (t_label == 0).mean(), "zoomed-out crops show more scene"
    image, label = tight[0]
    assert image.shape == (3, 64, 32) and label.dtype == torch.int64, "normalised image, long map"


# --- training -----------------------------------------------------------------------------


def test_resume_equals_uninterrupted_run(tree, tmp_path, monkeypatch):
    instances = coco(tree)
    train_parser(TINY, instances, tmp_path / "full", CPU)
    import benchmark.human_parsing.train as train_module

    real_chunk, calls = train_module.train_chunk, []

    def crash_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_chunk", crash_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        train_parser(TINY, instances, tmp_path / "cut", CPU)
    monkeypatch.setattr(train_module, "train_chunk", real_chunk)
    log = train_parser(TINY, instances, tmp_path / "cut", CPU)
    assert log["step"].tolist() == [2, 4], f"log rows after resume: {log['step'].tolist()}"
    full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    cut = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    for key in full:
        torch.testing.assert_close(cut[key], full[key], msg=f"resumed weights differ at {key}")


def test_parser_learns_parts_well_above_chance(tree, learned, tmp_path):
    root = copy_market(tree, tmp_path)
    label_dataset(root, learned, CPU)
    trained, _ = evaluate_labels(root, tmp_path / "trained")
    rng = np.random.default_rng(0)
    for png in (root / f"{MARKET}_ps_label").rglob("*.png"):  # chance: uniformly random labels
        size = Image.open(png).size
        Image.fromarray(rng.integers(0, NUM_CLASSES, (size[1], size[0]), dtype=np.uint8), "L").save(
            png
        )
    chance, _ = evaluate_labels(root, tmp_path / "chance")
    miou, chance_miou = trained["iou"].iloc[-1], chance["iou"].iloc[-1]
    assert miou > 0.35 and miou > 3 * chance_miou, f"mIoU {miou:.3f} vs chance {chance_miou:.3f}"


# --- labelling ----------------------------------------------------------------------------


def test_label_tree_round_trips_through_market_loader(tree, learned, tmp_path):
    root = copy_market(tree, tmp_path)
    report = label_dataset(root, learned, CPU, batch_size=3)
    total = sum(len(stems) for stems in MARKET_FOLDERS.values())
    assert (report.written, report.skipped) == (total, 0), "every image of the 3 folders, junk too"
    ps = root / f"{MARKET}_ps_label"
    assert (ps / "bounding_box_test" / "-1_c1s1_000004_00.png").is_file(), "junk images labelled"
    assert not list(ps.rglob("*.tmp*")), "no temporary files left"
    splits = load_dataset("market1501", root, labels="ps")
    for sample in splits.train + splits.query + splits.gallery:
        assert sample.label_path is not None, f"{sample.path.name} has no ps label"
        with Image.open(sample.label_path) as im, Image.open(sample.path) as image:
            assert im.mode == "L" and im.size == image.size, f"{sample.label_path.name}: {im.mode}"
            assert np.asarray(im).max() <= 7, "codes 0-7"
        assert read_label(sample.label_path, sample.path, (32, 16)).max() <= 4, "fuses to 4 parts"
    assert json.loads((ps / PROVENANCE).read_text())["checkpoint"].endswith("checkpoint.pt")


def test_label_skips_existing_unless_overwrite(tree, learned, tmp_path):
    root = copy_market(tree, tmp_path)
    label_dataset(root, learned, CPU)
    marked = root / f"{MARKET}_ps_label" / "query" / "0003_c1s1_000001_00.png"
    size = Image.open(marked).size
    Image.new("L", size, 3).save(marked)
    again = label_dataset(root, learned, CPU)
    assert again.written == 0 and np.asarray(Image.open(marked)).min() == 3, "existing label kept"
    label_dataset(root, learned, CPU, overwrite=True)
    assert len(np.unique(np.asarray(Image.open(marked)))) > 1, "--overwrite relabels the image"


def test_checkpoint_rebuilds_the_trained_config(learned):
    model, cfg = load_parser(learned, CPU)
    assert (cfg.height, cfg.width, cfg.iters) == (32, 16, 150) and not model.training


# --- evaluation ---------------------------------------------------------------------------


def write_pair_trees(root: Path, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random gt/ps label trees (with one part missing from some maps); returns the maps."""
    rng = np.random.default_rng(seed)
    maps = []
    for folder, stems in MARKET_FOLDERS.items():
        for stem in stems:
            (root / MARKET / folder).mkdir(parents=True, exist_ok=True)
            gt = rng.integers(0, 8, (12, 6), dtype=np.uint8)
            ps = np.where(rng.random((12, 6)) < 0.6, gt, rng.integers(0, 8, (12, 6))).astype(
                np.uint8
            )
            if rng.random() < 0.5:
                gt[gt == 7] = 0
            for kind, label in (("gt", gt), ("ps", ps)):
                path = root / f"{MARKET}_{kind}_label" / folder / f"{stem}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(label, "L").save(path)
            maps.append((gt, ps))
    return maps


def test_scores_match_the_per_image_reference_loop(tmp_path):
    maps = write_pair_trees(tmp_path, seed=3)
    scores, markdown = evaluate_labels(tmp_path, tmp_path / "out")
    for part in range(1, 8):
        inter = sum(int(((g == part) & (p == part)).sum()) for g, p in maps)
        union = sum(int(((g == part) | (p == part)).sum()) for g, p in maps)
        vis = np.mean([(g == part).any() == (p == part).any() for g, p in maps])
        row = scores.iloc[part - 1]
        assert row["iou"] == pytest.approx(inter / union), f"IoU of part {part}"
        assert row["visibility_acc"] == pytest.approx(vis), f"visibility accuracy of part {part}"
    assert scores["iou"].iloc[-1] == pytest.approx(scores["iou"].iloc[:7].mean()), (
        "mIoU over 7 parts"
    )
    assert (tmp_path / "out" / "parsing_eval.csv").is_file(), "CSV written"
    assert (tmp_path / "out" / "parsing_eval.md").read_text() == markdown, "Markdown written"
    assert "| head" in markdown and "mean (mIoU)" in markdown, markdown


def test_eval_without_ground_truth_says_it_needs_synthetic_data(tmp_path):
    write_pair_trees(tmp_path, seed=0)
    shutil.rmtree(tmp_path / f"{MARKET}_gt_label")
    with pytest.raises(UserError, match="synthetic ground truth"):
        evaluate_labels(tmp_path, tmp_path / "out")


def test_eval_names_missing_pseudo_labels(tmp_path):
    write_pair_trees(tmp_path, seed=0)
    (tmp_path / f"{MARKET}_ps_label" / "query" / "0003_c1s1_000001_00.png").unlink()
    with pytest.raises(UserError, match="1 of 7 images have no pseudo label"):
        label_pairs(tmp_path)


def test_eval_rejects_a_label_of_the_wrong_size(tmp_path):
    write_pair_trees(tmp_path, seed=0)
    Image.new("L", (5, 5)).save(
        tmp_path / f"{MARKET}_ps_label" / "query" / "0003_c1s1_000001_00.png"
    )
    pairs, _, _ = label_pairs(tmp_path)
    with pytest.raises(UserError, match="relabel"):
        score_counts(count_pairs(pairs))


# --- command line -------------------------------------------------------------------------


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parse_parser(parser.add_subparsers(dest="command", required=True))
    return run_parse(parser.parse_args(["parse", *argv]))


def test_cli_train_label_eval_end_to_end(tree, tmp_path, monkeypatch, capsys):
    root = copy_market(tree, tmp_path / "root")
    monkeypatch.chdir(tmp_path)  # default run folders go under ./results/parsing
    tiny = ["--set", "height=32", "--set", "width=16", "--set", "iters=2", "--set", "chunk=1"]
    assert cli("train", "--root", str(root), "--profile", "smoke", *tiny) == 0
    (run,) = (tmp_path / "results" / "parsing").iterdir()
    assert {"checkpoint.pt", "train_log.csv", "config.json", "env.json"} <= {
        p.name for p in run.iterdir()
    }
    assert cli("label", "--root", str(root), "--dataset", "market1501") == 0  # newest checkpoint
    assert cli("eval", "--root", str(root)) == 0
    out = capsys.readouterr().out
    assert "mean (mIoU)" in out and (run / "parsing_eval.md").is_file(), "table in the run folder"
    with pytest.raises(UserError, match="--resume"):
        cli("train", "--root", str(root), "--profile", "smoke", "--out", str(run))
    assert cli("train", "--resume", str(run)) == 0, "a finished run resumes as a no-op"


@pytest.mark.slow
def test_pipeline_on_the_synthetic_generator(tmp_path, monkeypatch, capsys):
    from reid_datasets.synthetic import generate, synth_config

    root = tmp_path / "synthetic"
    generate(root, synth_config("smoke"), progress=False)
    monkeypatch.chdir(tmp_path)
    assert cli("train", "--root", str(root), "--profile", "smoke", "--set", "iters=200") == 0
    assert cli("label", "--root", str(root)) == 0
    assert cli("eval", "--root", str(root), "--out", str(tmp_path / "eval")) == 0
    scores = pd.read_csv(tmp_path / "eval" / "parsing_eval.csv")
    assert scores["iou"].iloc[-1] > 0.05, f"smoke-profile mIoU {scores['iou'].iloc[-1]:.3f}"
    assert len(load_dataset("market1501", root, labels="ps").train) > 0, "ps tree loads"


@pytest.mark.parametrize("dataset", ["p_dukemtmc", "msmt17"])
def test_label_writes_a_mirrored_tree_that_the_loader_reads(learned, tmp_path, dataset):
    folder = make_p_dukemtmc(tmp_path) if dataset == "p_dukemtmc" else make_msmt17(tmp_path)
    report = label_dataset(tmp_path, learned, CPU, dataset=dataset)
    splits = load_dataset(dataset, tmp_path, labels="ps")
    samples = splits.train + splits.query + splits.gallery
    assert report.tree == tmp_path / f"{folder.name}_ps_label" and report.written == len(samples)
    for s in samples:  # every listed image, at its path in the release
        assert s.label_path == report.tree / s.path.relative_to(folder).with_suffix(".png")
        with Image.open(s.label_path) as label, Image.open(s.path) as image:
            assert label.size == image.size and label.mode == "L"
    again = label_dataset(tmp_path, learned, CPU, dataset=dataset)
    assert (again.written, again.skipped) == (0, len(samples)), "a rerun keeps what exists"


def test_label_writes_occluded_dukes_tree_that_its_loader_reads(learned, tmp_path):
    make_occluded_duke(tmp_path)
    report = label_dataset(tmp_path, learned, CPU, dataset="occluded_duke")
    assert report.tree == tmp_path / "Occluded_Duke_ps_label" and report.written == 9
    splits = load_dataset("occluded_duke", tmp_path, labels="ps")
    assert all(s.label_path is not None for s in splits.train + splits.query + splits.gallery)
