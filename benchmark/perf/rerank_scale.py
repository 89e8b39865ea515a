"""k-reciprocal re-ranking at the scale of the real sets: time and peak memory; run on request.

    python -m benchmark.perf.rerank_scale [--sets market1501 occluded_duke] [--dim 2048] [--json]

Each set runs in a fresh subprocess (peak memory = VmHWM of that process, reset once the
features exist): ``evaluate(mode="multi", rerank=RerankParams())`` on random features of the
set's query and gallery sizes (4 parts, ``--dim`` channels, 80% of the parts visible). Reported:
the time, the peak resident memory, the memory beyond the features, and what a dense
implementation would hold (the (Q+G)^2 float32 matrices of the authors' code: the distances,
V and, during query expansion, a second V: about 3 x 4 N^2 bytes before its Jaccard array).
Target (issue 24): peak within 3 GB at Market-1501 and Occluded-Duke scale.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from typing import Any

from benchmark.evaluation.allocator import pin_mmap_threshold
from benchmark.evaluation.rerank import RerankParams
from benchmark.perf.eval_speed import Scale, make_banks, scoring_memory, spawn_stage

# (queries, gallery, query ids) of the real releases
SIZES = {
    "market1501": (3368, 15913, 750),
    "occluded_duke": (2210, 17661, 519),
    "msmt17": (11659, 82161, 3060),
}
TARGET_PEAK_MB = 3072.0


def run_stage(scale: Scale) -> dict[str, Any]:
    """Re-rank once in this process; the features are made before the peak is reset."""
    pin_mmap_threshold()  # a scoring-only process, as ``score``
    q, g = make_banks(scale)
    n = scale.queries + scale.gallery
    measured = scoring_memory(q, g, rerank=RerankParams())
    return {
        **asdict(scale),
        "rerank_s": measured.pop("score_s"),
        "rerank_cpu_s": measured.pop("score_cpu_s"),
        "features_mb": (q.features.numel() + g.features.numel()) * 4 / 2**20,
        **measured,
        "dense_mb": 3 * 4 * n * n / 2**20,
    }


def _spawn(scale: Scale) -> dict[str, Any]:
    args = ["--stage", json.dumps(asdict(scale))]
    return spawn_stage("benchmark.perf.rerank_scale", args, f"re-ranking at {asdict(scale)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["market1501", "occluded_duke"], choices=SIZES)
    parser.add_argument("--dim", type=int, default=2048, help="channels per part (default 2048)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        print(json.dumps(run_stage(Scale(**json.loads(args.stage)))))
        return 0
    rows = {}
    for name in args.sets:
        queries, gallery, ids = SIZES[name]
        scale = replace(Scale(), queries=queries, gallery=gallery, ids=ids, dim=args.dim)
        rows[name] = _spawn(replace(scale, distractors=0))
    if args.json:
        print(json.dumps(rows))
        return 0
    for name, r in rows.items():
        verdict = "ok" if r["peak_mb"] <= TARGET_PEAK_MB else "MISSED"
        print(
            f"{name}: Q={r['queries']} G={r['gallery']} P={r['parts']} D={r['dim']}: "
            f"{r['rerank_s']:.1f} s, peak {r['peak_mb']:.0f} MB ({verdict}, target "
            f"{TARGET_PEAK_MB:.0f}), features {r['features_mb']:.0f} MB, beyond them "
            f"{r['work_mb']:.0f} MB; a dense implementation: {r['dense_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
