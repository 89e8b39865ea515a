"""Bad inputs and faults: each a one-line ``error: ...`` naming the path or setting and what
to do, exit 2 (1 where the work ran and failed), and nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.__main__ import main as entry_point
from benchmark.errors import UserError
from benchmark.state_files import load_state, save_state, tensor_dict
from reid_datasets import load_dataset
from reid_datasets.coco_densepose import instance_part_map
from tests.datasets.real_trees import make_all, make_coco, make_market


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = entry_point(argv)
    return code, capsys.readouterr().err.strip().splitlines()


def one_line(code: int, lines: list[str], message: str, exit_code: int = 2) -> None:
    assert code == exit_code, f"exit {code}: {lines}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


# --- files that are not state dicts ------------------------------------------------------


def _not_state_dicts(folder: Path) -> dict[str, Path]:
    files = {}
    files["garbage"] = folder / "garbage.pth"
    files["garbage"].write_bytes(b"\x00\x01 not a torch file at all" * 10)
    files["crafted zip"] = folder / "crafted.pth"
    with zipfile.ZipFile(files["crafted zip"], "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x05 truncated pickle")
        z.writestr("archive/version", "3\n")
    files["a list"] = folder / "list.pth"
    torch.save([torch.zeros(2)], files["a list"])
    files["a tensor"] = folder / "tensor.pth"
    torch.save(torch.zeros(2), files["a tensor"])
    files["no tensors"] = folder / "strings.pth"
    torch.save({"conv1.weight": "not a tensor"}, files["no tensors"])
    files["a folder"] = folder / "folder.pth"
    files["a folder"].mkdir()
    return files


def test_a_file_that_is_not_a_state_dict_is_one_line(tmp_path) -> None:
    for kind, path in _not_state_dicts(tmp_path).items():
        with pytest.raises(UserError) as e:
            tensor_dict(load_state(path, "weights", "give a state dict"), path, "weights", "fix")
        text = str(e.value)
        assert "\n" not in text and str(path) in text, f"{kind}: {text}"
        assert "weights_only=False" not in text, f"{kind}: never advise unsafe loading"


def test_pretrained_that_is_not_a_state_dict_fails_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    files = _not_state_dicts(tmp_path)
    for kind in ("crafted zip", "a list", "no tensors"):
        argv = ["run", "--profile", "smoke", "--methods", "baseline", "--out", "runs"]
        code, lines = run_cli([*argv, "--pretrained", str(files[kind])], capsys)
        one_line(code, lines, str(files[kind]))
        assert not (tmp_path / "runs").exists(), f"{kind}: no run folder"


def test_state_write_stopped_by_a_file_size_limit_keeps_the_previous_file(tmp_path) -> None:
    target = tmp_path / "checkpoint.pt"
    save_state({"epoch": 1, "w": torch.zeros(4)}, target)
    script = textwrap.dedent(
        f"""
        import resource, torch
        from benchmark.__main__ import main
        from benchmark.errors import UserError
        from benchmark.state_files import save_state
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        try:
            save_state({{"epoch": 2, "w": torch.zeros(100_000)}}, {str(target)!r})
        except UserError as e:
            print("error:", e)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "enforce fail" not in proc.stdout + proc.stderr, "never torch's C++ text"
    out = proc.stdout.strip().splitlines()
    assert len(out) == 1 and "file-size limit" in out[0] and str(target) in out[0], out
    assert load_state(target, "checkpoint", "")["epoch"] == 1, "the previous checkpoint survives"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"], "no temp file left"


# --- score ---------------------------------------------------------------------------------


def _npz(path: Path, query_vis: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for side, n in (("query", len(query_vis)), ("gallery", 6)):
        arrays[f"{side}_features"] = rng.normal(size=(n, 2, 4)).astype(np.float32)
        arrays[f"{side}_pids"] = np.arange(n) % 3
        arrays[f"{side}_camids"] = np.full(n, 0 if side == "query" else 1)
    arrays["query_visibility"] = query_vis
    arrays["gallery_visibility"] = np.ones((6, 2), np.float32)
    np.savez(path, **arrays)
    return path


def test_npz_that_is_really_text_does_not_blame_pickle(tmp_path, capsys) -> None:
    text = tmp_path / "features.npz"
    text.write_text("query_features,gallery_features\n1,2\n")
    code, lines = run_cli(["score", str(text)], capsys)
    one_line(code, lines, "not an .npz archive")
    assert "pickle" not in lines[0], lines


def test_score_file_with_every_query_part_hidden_is_refused(tmp_path, capsys) -> None:
    hidden = _npz(tmp_path / "hidden.npz", np.zeros((3, 2), np.float32))
    code, lines = run_cli(["score", str(hidden)], capsys)
    one_line(code, lines, "every query image has every part hidden")
    assert entry_point(["score", str(hidden), "--no-vis"]) == 0, "w/o vis it is scored"


# --- folders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synth", "--profile", "smoke", "--root", "FILE"], "is a file, not a folder"),
        (["pretrain", "--profile", "smoke", "--out", "FILE"], "is a file, not a folder"),
        (["datasets", "check", "--root", "FILE"], "is a file, not a folder"),
        (["run", "--profile", "smoke", "--root", "FILE"], "is a file, not a folder"),
        (["run", "--profile", "smoke", "--out", "FILE"], "is a file, not a folder"),
        (["parse", "eval", "--root", "FILE"], "is a file, not a folder"),
        (["tables", "RESULTS", "--out", "FILE"], "is a file, not a folder"),
        (["figures", "RESULTS", "--out", "FILE"], "is a file, not a folder"),
    ],
)
def test_a_file_where_a_folder_is_expected(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    Path("FILE").write_text("a regular file")
    results = Path("RESULTS")
    results.mkdir()
    reference = Path(__file__).resolve().parents[2] / "results" / "ci_gate" / "smoke.csv"
    (results / "results.csv").write_bytes(reference.read_bytes())
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, lines = run_cli(argv, capsys)
    one_line(code, lines, message)
    assert "FILE" in lines[0], lines
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing written"


# --- data roots ----------------------------------------------------------------------------


def test_check_of_a_root_with_only_market_names_each_missing_test_set(tmp_path, capsys) -> None:
    make_market(tmp_path)
    assert entry_point(["datasets", "check", "--root", str(tmp_path), "--no-verify"]) == 0
    out = capsys.readouterr().out
    for name in ("partial_reid", "partial_ilids_2018", "partial_ilids_2019", "occluded_reid"):
        assert f"missing: {name} " in out, f"{name} not named:\n{out}"
    assert "missing: market1501" not in out


def test_check_of_a_root_one_folder_too_high_says_where_the_data_are(tmp_path, capsys) -> None:
    inner = tmp_path / "unpacked"
    make_all(inner)
    code = entry_point(["datasets", "check", "--root", str(tmp_path), "--no-verify"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"pass --root {inner}" in captured.out, captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and f"pass --root {inner}" in err[0], err


def test_bad_rle_names_the_annotation_file_and_id(tmp_path) -> None:
    coco = make_coco(tmp_path)
    ann_file = coco / "annotations" / "densepose_coco_2014_train.json"
    data = json.loads(ann_file.read_text())
    data["annotations"][0]["dp_masks"][3] = {"size": [256, 256], "counts": "zz!z"}
    ann_file.write_text(json.dumps(data))
    instance = load_dataset("coco_densepose", tmp_path).train[0]
    with pytest.raises(UserError) as e:
        instance_part_map(instance)
    text = str(e.value)
    assert "\n" not in text and str(ann_file) in text, text
    assert f"annotation {data['annotations'][0]['id']} " in text, text
