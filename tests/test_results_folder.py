"""The committed results: what a reference keeps, and nothing large that changes every time."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bytes: per-query rows of a 3-seed run of five methods are about 1.5 MB (hence headline/ and
# ablations/, the paper's Tables 2-3 and 4, are two references)
LARGEST = 2_000_000
NEVER = (".npz", ".pt", ".pth")  # masks, checkpoints: regenerated binaries
EXAMPLES = ("ranklist_", "ranking_", "parts_")  # example pictures, redrawn every run


def committed(folder: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines()]


def test_no_large_or_regenerated_binary_is_committed() -> None:
    files = committed("results")
    assert files, "results/ is committed"
    for path in files:
        assert path.stat().st_size <= LARGEST, f"{path} is {path.stat().st_size} bytes"
        assert path.suffix not in NEVER, f"{path}: a binary regenerated with every run"
        assert not path.name.startswith(EXAMPLES), f"{path}: an example redrawn every run"


def test_each_reference_keeps_rows_tables_and_logs() -> None:
    for folder in ("cpu", "headline", "ablations", "cpu_long"):
        names = {p.name for p in committed(f"results/{folder}")}
        for needed in ("results.csv", "per_query.csv.gz", "tables.md", "tables.tex"):
            assert needed in names, f"results/{folder} lacks {needed}"
        assert any(n.startswith("train_log_") for n in names), f"results/{folder}: no logs"
    assert (ROOT / "results" / "ci_gate" / "smoke.csv").is_file(), "the CI gate's rows"
