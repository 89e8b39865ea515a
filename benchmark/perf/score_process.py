"""Whole-process ``score`` against the load-plus-matmul floor, at Market-1501 scale; on request.

    python -m benchmark.perf.score_process [--repeats 2] [--file /tmp/market_feats.npz]

Writes (once) a features file of Market-1501's sizes (3,368 queries, 15,913 gallery images,
4 parts x 2048, random), then times in fresh processes, alternately: a process that only loads
the file and runs the four bare products [Q, D] x [D, G] (the floor), and ``python -m benchmark
score FILE --json`` (imports, checks, eq. (1), ranking, metrics). Target (issue 24): 1.1x.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TARGET = 1.1
FLOOR = """
import numpy as np, torch
d = np.load({path!r})
q, g = torch.from_numpy(d['query_features']), torch.from_numpy(d['gallery_features'])
for j in range(q.shape[1]):
    q[:, j, :] @ g[:, j, :].T
"""


def write_features(path: Path, seed: int = 0) -> None:
    """Market-1501-sized random features in ``score``'s format."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for side, n in (("query", 3368), ("gallery", 15913)):
        out[f"{side}_features"] = rng.uniform(-1, 1, (n, 4, 2048)).astype(np.float32)
        out[f"{side}_visibility"] = (rng.random((n, 4)) < 0.8).astype(np.float32)
        out[f"{side}_pids"] = rng.integers(1, 751, n)
        out[f"{side}_camids"] = rng.integers(1, 7, n)
    np.savez(path, **out)  # type: ignore[arg-type]


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--file", type=Path, default=Path("/tmp/market_feats.npz"))
    args = parser.parse_args(argv)
    if not args.file.exists():
        write_features(args.file)
    for rep in range(args.repeats):
        floor = _timed([sys.executable, "-c", FLOOR.format(path=str(args.file))])
        score = _timed([sys.executable, "-m", "benchmark", "score", str(args.file), "--json"])
        verdict = "ok" if score / floor <= TARGET else "MISSED"
        print(
            f"repeat {rep}: floor {floor:.2f} s, score {score:.2f} s, {score / floor:.2f}x "
            f"({verdict}, target {TARGET}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
