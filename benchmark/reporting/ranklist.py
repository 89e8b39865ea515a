"""Rank lists that explain themselves: which queries (a stated rule), their top-k gallery under the
evaluation's ranking rules and the run's test distance, and per gallery image the part distances
and the parts used (commonly visible).

The result is one tidy frame (``FRAME_COLUMNS``, one row per query x rank x part) that the
figure draws and ``ranklist`` writes as CSV beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from benchmark.errors import DataError, UserError
from benchmark.evaluation.distance import distance_matrix
from benchmark.reporting.ranklist_data import (
    FRAME_COLUMNS,
    RanklistData,
    part_distances,
    pattern_of,
    query_aps,
    ranked_gallery,
    subset,
)


@dataclass(frozen=True)
class Rule:
    """How the queries of a rank list are chosen.

    Attributes:
        kind: "random" (uniform, seeded), "worst" (lowest AP first) or "pattern".
        bits: for "pattern", the visible-part pattern, e.g. "1011" (part 1 first).
        seed: the seed of "random" and of the draw among queries of one pattern.
    """

    kind: str
    bits: str = ""
    seed: int = 0


def parse_rule(text: str, seed: int = 0) -> Rule:
    """``random``, ``worst`` or ``pattern:1011`` -> Rule (one-line UserError otherwise)."""
    if text in ("random", "worst"):
        return Rule(text, seed=seed)
    kind, _, bits = text.partition(":")
    if kind == "pattern" and bits and set(bits) <= {"0", "1"}:
        return Rule("pattern", bits, seed)
    raise UserError(
        f"--rule {text!r}: use random, worst or pattern:BITS with one 0/1 per part, "
        "e.g. pattern:1011 (part 1 visible, part 2 hidden, ...)"
    )


def select_queries(
    data: RanklistData, rule: Rule, count: int, aps: np.ndarray
) -> tuple[list[int], str]:
    """Query indices under ``rule`` and the sentence stating the rule (for the figure).

    Only queries with a match in the gallery (finite AP) are eligible. ``worst``: the lowest
    APs, ties by query index; ``random`` and ``pattern``: a seeded draw, listed in query order.
    """
    if count < 1:
        raise UserError(f"--queries must be at least 1, got {count}")
    eligible = np.flatnonzero(~np.isnan(aps))
    if rule.kind == "worst":
        order = eligible[np.lexsort((eligible, aps[eligible]))]
        picks = [int(i) for i in order[:count]]
        return picks, f"the {len(picks)} lowest-AP queries of {len(eligible)}"
    what = f"{len(eligible)} queries with a match"
    if rule.kind == "pattern":
        patterns = pattern_of(data.query.visibility)
        if len(rule.bits) != data.query.visibility.shape[1]:
            raise UserError(
                f"pattern:{rule.bits} has {len(rule.bits)} parts but the method has "
                f"{data.query.visibility.shape[1]}; give one 0/1 per part"
            )
        eligible = np.array([i for i in eligible if patterns[i] == rule.bits], dtype=int)
        if not len(eligible):
            seen = pd.Series(patterns).value_counts()
            have = ", ".join(f"{p} ({n})" for p, n in seen.items())
            raise DataError(f"no query has visible-part pattern {rule.bits}; present: {have}")
        what = f"{len(eligible)} queries with visible parts {rule.bits}"
    rng = np.random.default_rng(rule.seed)
    drawn = rng.choice(eligible, size=min(count, len(eligible)), replace=False)
    picks = sorted(int(i) for i in drawn)
    return picks, f"{len(picks)} drawn at random (seed {rule.seed}) from {what}"


def top_k(
    data: RanklistData, queries: list[int], k: int, distance: str = "paper"
) -> tuple[list[list[int]], torch.Tensor]:
    """Each query's top-``k`` gallery indices under the evaluation's rules (``ranked_gallery``)
    and their [n, G] distances (``distance``: the run's ``eval.distance``)."""
    if k < 1:
        raise UserError(f"--topk must be at least 1, got {k}")
    q = subset(data.query, queries)
    dist = distance_matrix(q, data.gallery, distance=distance)  # [n, G]
    return ranked_gallery(dist, q, data.gallery, data.market_ids, k), dist


def ranklist_frame(
    data: RanklistData, rule: Rule, count: int, k: int, distance: str = "paper"
) -> tuple[pd.DataFrame, str]:
    """The tidy rank-list frame (``FRAME_COLUMNS``) and the sentence stating the query rule,
    under the run's test distance (``eval.distance``: "paper" eq. (1) or "official")."""
    aps = query_aps(data, distance)
    picks, said = select_queries(data, rule, count, aps)
    lists, dist = top_k(data, picks, k, distance)
    patterns = pattern_of(data.query.visibility)
    rows = []
    for n, (qi, gallery) in enumerate(zip(picks, lists, strict=True)):
        q, g = subset(data.query, [qi]), subset(data.gallery, gallery)
        parts = part_distances(q, g, distance)[0]  # [k, P]
        qv, gv = q.visibility[0] > 0, g.visibility > 0  # [P], [k, P]
        for rank, gi in enumerate(gallery, 1):
            for j in range(parts.shape[1]):
                rows.append(
                    {
                        "query": qi,
                        "query_path": data.query_paths[qi],
                        "query_ap": float(aps[qi]),
                        "query_pattern": patterns[qi],
                        "rank": rank,
                        "gallery": gi,
                        "gallery_path": data.gallery_paths[gi],
                        "correct": bool(data.gallery.pids[gi] == data.query.pids[qi]),
                        "total": float(dist[n, gi]),
                        "part": j + 1,
                        "part_distance": float(parts[rank - 1, j]),
                        "query_visible": bool(qv[j]),
                        "gallery_visible": bool(gv[rank - 1, j]),
                        # eq. (1): v1_j v2_j (official: the parts of its shared term)
                        "used": bool(qv[j] and gv[rank - 1, j]),
                    }
                )
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS)), said


def caption(tile: pd.DataFrame, part_names: list[str]) -> str:
    """The text under one gallery image: per part its distance, marked used (●) or not (○),
    then the total (eq. (1): the mean over the used parts)."""
    lines = []
    for row in tile.sort_values("part").itertuples():
        mark = "●" if row.used else "○"
        lines.append(f"{mark} {part_names[row.part - 1]} {row.part_distance:.2f}")
    total = tile["total"].iloc[0]
    lines.append("d = inf (no shared part)" if np.isinf(total) else f"d = {total:.3f}")
    return "\n".join(lines)
