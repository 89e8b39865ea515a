"""``score``: loading and validating a features file, the CLI output, one-line errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.__main__ import main as benchmark_main
from benchmark.commands.score import add_score_parser
from benchmark.errors import DataError, NonFiniteError
from benchmark.evaluation.protocols import evaluate
from benchmark.evaluation.score import load_npz
from tests.benchmark.evaluation import reference_eval as ref


def arrays(seed: int = 0, q: int = 12, g: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for side, n in (("query", q), ("gallery", g)):
        out[f"{side}_features"] = rng.normal(size=(n, 4, 16)).astype(np.float32)
        out[f"{side}_visibility"] = (rng.random((n, 4)) < 0.8).astype(np.float32)
        out[f"{side}_pids"] = rng.integers(1, 5, n)
        out[f"{side}_camids"] = np.full(n, 0 if side == "query" else 1)
    return out


def main(argv: list[str]) -> int:
    """``python -m benchmark score ARGV``, in process."""
    return benchmark_main(["score", *argv])


def write(tmp_path: Path, data: dict[str, np.ndarray], name: str = "feats.npz") -> Path:
    path = tmp_path / name
    np.savez(path, **data)
    return path


def test_json_output_matches_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, arrays())
    assert main([str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    metrics = {"rank1", "rank3", "rank5", "rank10", "mAP", "mAP_zzd", "mINP", "queries", "skipped"}
    counts = {"queries_no_visible", "first_match_tied"}
    assert set(out) == metrics | counts | {"ids", "ties"}
    assert (out["ids"], out["ties"]) == ("plain", "pessimistic"), "the rules applied are stated"
    query, gallery = load_npz(path)
    want = evaluate(query, gallery).to_dict() | {"ids": "plain", "ties": "pessimistic"}
    assert out == want, "the CLI must print evaluate()'s numbers"
    assert all(0.0 <= out[k] <= 1.0 for k in ("rank1", "mAP")), "metrics are fractions"


def test_single_shot_json_and_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, arrays(1))
    args = [str(path), "--mode", "single", "--trials", "3", "--seed", "4", "--no-vis", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    query, gallery = load_npz(path)
    want = evaluate(query, gallery, mode="single", trials=3, seed=4, use_visibility=False)
    assert out == want.to_dict() | {"ids": "plain", "ties": "pessimistic"}
    assert "rank10_std" in out, "single-shot adds the stds"


def test_human_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(write(tmp_path, arrays(2))), "--distance", "official"]) == 0
    text = capsys.readouterr().out
    assert "Rank-1" in text and "mAP" in text and "official distance" in text, text


def test_parser_plugs_into_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_score_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["score", str(write(tmp_path, arrays(3))), "--json"])
    assert args.func(args) == 0 and "rank1" in json.loads(capsys.readouterr().out)


def broken(name: str, value) -> dict[str, np.ndarray]:
    data = arrays()
    if value is None:
        del data[name]
    else:
        data[name] = value
    return data


BAD = [
    ("query_camids", None, "missing query_camids"),
    ("query_features", np.zeros((12, 4, 16), np.int64), "query_features must be a float array"),
    ("gallery_features", np.zeros((30, 64), np.float32), r"gallery_features must be \[N, P, D\]"),
    ("query_features", np.zeros((0, 4, 16), np.float32), "query_features is empty"),
    ("query_visibility", np.ones((12, 3), np.float32), "query_visibility must be"),
    ("gallery_visibility", np.full((30, 4), 2.0), "gallery_visibility must hold only 0 and 1"),
    ("gallery_pids", np.ones(30, np.float32), "gallery_pids must be an integer array"),
    ("query_camids", np.zeros(11, np.int64), r"query_camids must be \[N\] = \[12\]"),
    ("gallery_features", np.zeros((30, 4, 8), np.float32), "gallery_features is"),
    ("query_pids", np.array([None] * 12, dtype=object), "query_pids is not a numeric array"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_bad_arrays_give_one_line_errors(tmp_path: Path, name: str, value, message: str) -> None:
    path = write(tmp_path, broken(name, value))
    with pytest.raises(DataError, match=message) as err:
        load_npz(path)
    assert "\n" not in str(err.value), "errors are one line"


def test_non_finite_features(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = arrays()
    data["gallery_features"][[3, 7], 1, 2] = [np.nan, np.inf]
    path = write(tmp_path, data)
    with pytest.raises(NonFiniteError, match="gallery_features contains NaN or inf in 2 of 30"):
        load_npz(path)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: gallery_features") and err.count("\n") == 1, err


def test_large_finite_features_whose_sum_overflows_load(tmp_path: Path) -> None:
    data = arrays(4)
    data["gallery_features"][:, 0] = 3e38  # finite, but any float32 sum of two overflows
    query, gallery = load_npz(write(tmp_path, data))
    assert bool(torch.isfinite(gallery.features).all()) and gallery.features.max() == np.float32(
        3e38
    )


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_float64_beyond_float32_range_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, scale: float
) -> None:
    data = {k: v.astype(np.float64) if "features" in k else v for k, v in arrays().items()}
    data["query_features"][[2, 5], 1] *= scale  # one part of two images out of float32's range
    path = write(tmp_path, data)
    with pytest.raises(DataError, match="query_features is float64 with values outside float32's"):
        load_npz(path)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "in 2 of 12 images" in err and "normalise" in err, err
    assert err.startswith("error: query_features") and err.count("\n") == 1, err


def test_float64_within_float32_range_scores_as_float32(tmp_path: Path) -> None:
    data = arrays(3)
    wide = {k: v.astype(np.float64) if "features" in k else v for k, v in data.items()}
    wide["gallery_features"][4, 2] = 0.0  # an all-zero part is in range
    data["gallery_features"][4, 2] = 0.0
    q64, g64 = load_npz(write(tmp_path, wide, "wide.npz"))
    q32, g32 = load_npz(write(tmp_path, data, "narrow.npz"))
    assert evaluate(q64, g64).to_dict() == evaluate(q32, g32).to_dict(), "same numbers"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "missing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not numpy")
    with pytest.raises(DataError, match="not an .npz archive") as info:
        load_npz(text)
    assert "pickle" not in str(info.value), "text is not blamed on pickling"
    single = tmp_path / "one.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_npz(single)


def test_no_match_at_all_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = arrays()
    data["gallery_camids"] = np.zeros(30, np.int64)  # every match on the query's camera
    assert main([str(write(tmp_path, data)), "--json"]) == 2
    assert "no query has a match" in capsys.readouterr().err


def test_pid_zero_is_an_identity_unless_market_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = arrays(2)
    data["query_pids"][:4] = 0
    data["gallery_pids"][:6] = 0
    data["gallery_pids"][6:8] = -1
    path = write(tmp_path, data)
    assert main([str(path), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["skipped"] == 0 and plain["ids"] == "plain", "pid 0 queries match pid 0 items"
    assert main([str(path), "--json", "--market-ids"]) == 0
    market = json.loads(capsys.readouterr().out)
    assert market["ids"] == "market" and market["skipped"] == 4, "Market: pid 0 never matches"
    query, gallery = load_npz(path)
    assert market["mAP"] == evaluate(query, gallery, market_ids=True).mAP
    assert main([str(path), "--market-ids"]) == 0
    table = capsys.readouterr().out
    assert (
        "ids market" in table
        and "ties pessimistic" in table
        and "mAP_zzd" in table
        and "mINP" in table
    )


def test_rerank_json_keeps_the_plain_keys_and_matches_the_dense_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = arrays(5, q=10, g=40)
    data["query_visibility"][3] = [1, 0, 0, 0]  # some pairs share no visible part (+inf)
    data["gallery_visibility"][7] = [0, 1, 1, 0]
    path = write(tmp_path, data)
    assert main([str(path), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([str(path), "--rerank", "--k1", "8", "--k2", "3", "--lambda", "0.4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(plain) | {"rerank"}
    assert out["rerank"] == {"k1": 8, "k2": 3, "lambda": 0.4}
    # the dense loop on the reference distances, "no common part" at the row's finite maximum
    qf, qv, gf, gv = (
        data[f"{s}_{k}"] for s in ("query", "gallery") for k in ("features", "visibility")
    )
    q_g = ref.distance_matrix(qf, qv, gf, gv, ref.paper_distance)
    q_q = ref.distance_matrix(qf, qv, qf, qv, ref.paper_distance)
    g_g = ref.distance_matrix(gf, gv, gf, gv, ref.paper_distance)
    full = np.block([[q_q, q_g], [q_g.T, g_g]])
    peak = np.where(np.isfinite(full), full, -np.inf).max(axis=0)
    full = np.where(np.isfinite(full), full, peak[None, :])
    dist = ref.dense_rerank_full(full, 10, 8, 3, 0.4)
    ids = [data[k] for k in ("query_pids", "query_camids", "gallery_pids", "gallery_camids")]
    cmc, m_ap, _, _ = ref.cmc_map(dist, *ids)
    assert out["rank1"] == pytest.approx(cmc[0]) and out["mAP"] == pytest.approx(m_ap)
    assert out["mINP"] == pytest.approx(ref.minp(dist, *ids)[0])
    assert out["rank1"] != plain["rank1"] or out["mAP"] != plain["mAP"]  # it did re-rank


def test_rerank_options_without_rerank_are_refused(tmp_path: Path, capsys) -> None:
    assert main([str(write(tmp_path, arrays())), "--k1", "5"]) == 2
    assert "add --rerank" in capsys.readouterr().err
