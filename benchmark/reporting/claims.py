"""The paper's claims tested on per-query results: paired bootstrap intervals and verdicts.

For a claim "method beats reference" on one test set, the per-query rows of both are paired by
query (same data, distance, data set, query set and query index), on the seeds both have; each
query's Rank-1 hit (first match at rank 1) and AP are averaged over those seeds, and the 95%
interval of the mean difference over queries comes from ``scipy.stats.bootstrap`` with
``paired=True`` (BCa, 9999 resamples, a seeded generator): a resample draws queries, and the
same queries for both methods. Verdict: "holds" when the interval lies entirely on the claimed
side of 0 (> 0 for ">", >= 0 for ">="), "reversed" when it lies entirely below 0, else
"inconclusive".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.errors import DataError
from reid_methods.base import METHODS, method_config, method_reference, method_row

CONFIDENCE = 0.95
N_RESAMPLES = 9999
BOOTSTRAP_METHOD = "BCa"  # bias-corrected and accelerated; "percentile" if BCa is undefined
# Columns that pair a query across two methods (with ``query`` and ``seed``).
PAIR = ["data", "distance", "dataset", "query_set"]
METRICS = {"rank1": "hit", "mAP": "ap"}  # claim metric -> per-query column
OCCLUDED = ("occluded_reid", "partial_reid", "partial_ilids_2018", "partial_ilids_2019")


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a method, tested with (``vis``) or without visibility."""

    method: str
    vis: bool = True


@dataclass(frozen=True)
class Claim:
    """A paper claim: ``method`` is better than ``reference`` (``relation`` ">" or ">=")."""

    key: str
    text: str
    method: Side
    reference: Side
    relation: str
    datasets: tuple[str, ...]


# (a) Tables 2/3; (b)-(e) Table 4, which the paper reports on Occluded-REID only.
CLAIMS = (
    Claim("a", "HPNet > baseline under occlusion", Side("hpnet"), Side("baseline"), ">", OCCLUDED),
    Claim(
        "a0",
        "HPNet > baseline on holistic data (for information)",
        Side("hpnet"),
        Side("baseline"),
        ">",
        ("market1501",),
    ),
    Claim(
        "b",
        "test w/o vis drops accuracy",
        Side("hpnet"),
        Side("hpnet", vis=False),
        ">",
        ("occluded_reid",),
    ),
    Claim(
        "c",
        "unshared Conv5 >= shared Conv5",
        Side("hpnet"),
        Side("hpnet_share_conv5"),
        ">=",
        ("occluded_reid",),
    ),
    Claim(
        "d",
        "triplet loss helps",
        Side("hpnet"),
        Side("hpnet_wo_triplet"),
        ">",
        ("occluded_reid",),
    ),
    Claim("e", "COCO parsing helps", Side("hpnet"), Side("hpnet_wo_coco"), ">", ("occluded_reid",)),
)


@dataclass(frozen=True)
class Interval:
    """A mean paired difference and its bootstrap interval (same units as the inputs)."""

    difference: float
    low: float
    high: float
    method: str  # "BCa", "percentile", or "exact" when every paired difference is the same


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def paired_interval(
    x: np.ndarray,
    y: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean of ``x - y`` and its paired bootstrap interval (``x[i]``, ``y[i]``: one query).

    Args:
        x: [Q] per-query values of the method.
        y: [Q] per-query values of the reference, same query order.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator.
        confidence: confidence level of the interval.
    """
    from scipy import stats  # slow to import: loaded when an interval is computed

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise DataError(
            f"paired values must be two equal, non-empty 1-D arrays: {x.shape}, {y.shape}"
        )
    diff = float(np.mean(x - y))
    if np.ptp(x - y) == 0:  # every resample has the same mean: the interval is that value
        return Interval(diff, diff, diff, "exact")
    for method in (BOOTSTRAP_METHOD, "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa may be undefined; then percentile below
            res = stats.bootstrap(
                (x, y),
                _mean_difference,
                n_resamples=n_resamples,
                paired=True,
                vectorized=True,
                confidence_level=confidence,
                method=method,
                batch=256,  # bounds memory at 256 x Q values per array
                rng=np.random.default_rng(seed),
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return Interval(diff, low, high, method)
    raise DataError("the bootstrap interval is undefined for these values")  # pragma: no cover


def verdict(low: float, high: float, relation: str) -> str:
    """ "holds", "reversed" or "inconclusive" for a claimed difference ``relation`` 0."""
    if relation not in (">", ">="):
        raise ValueError(f"relation must be '>' or '>=', got {relation!r}")
    holds = low > 0 if relation == ">" else low >= 0
    if holds:
        return "holds"
    return "reversed" if high < 0 else "inconclusive"


def _side(per_query: pd.DataFrame, side: Side, datasets: tuple[str, ...]) -> pd.DataFrame:
    """The valid standard-protocol multi-shot rows of one side, with a hit column."""
    pq = per_query
    keep = (pq["method"] == side.method) & (pq["vis"] == side.vis) & (pq["mode"] == "multi")
    keep &= pq["occlusion"].isna() & pq["valid"] & pq["dataset"].isin(datasets)
    rows = pq[keep]
    columns = PAIR + ["labels", "seed", "query"]
    dup = rows.duplicated(columns, keep=False)
    if dup.any():
        first = rows[dup].iloc[0]
        runs = ", ".join(sorted(rows[dup]["run"].astype(str).unique()))
        raise DataError(
            f"per-query rows of {side.method} seed {first['seed']} on {first['dataset']} appear "
            f"in more than one run ({runs}); tabulate one run or sweep store at a time"
        )
    hit = (rows["first_match_rank"] == 1).astype(np.float64)
    return rows.assign(hit=hit)[columns + ["pid", "hit", "ap"]]


def _seed_free(method: str) -> bool:
    """A training-free method: its results do not depend on the seed (``run`` tests it once)."""
    return method in METHODS and not method_config(method).trains


def _any_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """A seed-free side's rows once, without their seed (every seed gives the same rows)."""
    first = rows["seed"] == rows.groupby(PAIR + ["labels"])["seed"].transform("min")
    return rows[first].drop(columns="seed")


def paired_queries(per_query: pd.DataFrame, claim: Claim) -> pd.DataFrame:
    """Per query (and group): method and reference values averaged over their common seeds.

    A training-free side (``MethodConfig.trains`` False) has no seed: its rows pair with every
    seed of the learned side, so a three-seed method is compared with the floor on its three
    seeds, not on the one seed number the floor's rows carry.

    Returns:
        Columns ``PAIR``, labels_a, labels_b, query, hit_a, hit_b, ap_a, ap_b, seeds.
    """
    a = _side(per_query, claim.method, claim.datasets)
    b = _side(per_query, claim.reference, claim.datasets)
    on = PAIR + ["seed", "query"]
    if _seed_free(claim.reference.method) and not _seed_free(claim.method.method):
        b, on = _any_seed(b), PAIR + ["query"]  # the floor pairs with every seed of the method
    elif _seed_free(claim.method.method) and not _seed_free(claim.reference.method):
        a, on = _any_seed(a), PAIR + ["query"]
    pairs = a.merge(b, on=on, suffixes=("_a", "_b"))
    if (pairs["pid_a"] != pairs["pid_b"]).any():
        raise DataError(
            f"{claim.method.method} and {claim.reference.method} list different queries under "
            "the same index; were they tested on the same data?"
        )
    group = PAIR + ["labels_a", "labels_b"]
    means = pairs.groupby(group + ["query"], sort=True)[["hit_a", "hit_b", "ap_a", "ap_b"]].mean()
    seeds = pairs.groupby(group)["seed"].nunique().rename("seeds")
    return means.reset_index().merge(seeds.reset_index(), on=group)


def run_methods(per_query: pd.DataFrame) -> set[tuple[str, bool]]:
    """The (method, vis) pairs that have per-query rows."""
    return set(zip(per_query["method"], per_query["vis"].astype(bool), strict=True))


def claim_rows(
    per_query: pd.DataFrame, claim: Claim, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> list[dict]:
    """One row per (group, metric) of ``claim``: difference and interval in percentage points."""
    paired = paired_queries(per_query, claim)
    rows = []
    group = PAIR + ["labels_a", "labels_b"]
    for key, part in paired.groupby(group, sort=True):
        for metric, col in METRICS.items():
            found = paired_interval(part[f"{col}_a"], part[f"{col}_b"], n_resamples, seed)
            rows.append(
                dict(zip(group, key, strict=True))
                | {"claim": claim.key, "text": claim.text, "relation": claim.relation}
                | {"method": claim.method.method, "method_vis": claim.method.vis}
                | {"reference": claim.reference.method, "reference_vis": claim.reference.vis}
                | {"metric": metric, "difference": 100 * found.difference}
                | {"low": 100 * found.low, "high": 100 * found.high, "interval": found.method}
                | {"queries": len(part), "seeds": int(part["seeds"].iloc[0])}
                | {"verdict": verdict(found.low, found.high, claim.relation)}
            )
    return rows


def floor_claims(present: set[tuple[str, bool]], datasets: tuple[str, ...]) -> list[Claim]:
    """ "M beats the training-free reference" for every learned method M that was run beside a
    training-free one (``MethodConfig.trains`` False), on every test set: the floor a learned
    method must clear, or the set measures colour rather than the method."""
    floors = sorted(m for m, vis in present if vis and m in METHODS and not method_config(m).trains)
    claims = []
    for floor in floors:
        learned = sorted(m for m, vis in present if vis and m not in floors)
        for i, method in enumerate(learned, start=1):
            text = f"{method_row(method).label} beats the training-free reference"
            claims.append(Claim(f"f{i}", text, Side(method), Side(floor), ">", datasets))
    return claims


def claims_frame(
    per_query: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[pd.DataFrame, list[Claim]]:
    """Every claim whose methods were run: tidy rows (differences in points), and the claims
    left out because a method or the test w/o vis evaluation is missing."""
    present = run_methods(per_query)
    rows, not_run = [], []
    for claim in (*CLAIMS, *floor_claims(present, tuple(sorted(per_query["dataset"].unique())))):
        sides = {(s.method, s.vis) for s in (claim.method, claim.reference)}
        if not sides <= present:
            not_run.append(claim)
            continue
        rows += claim_rows(per_query, claim, n_resamples, seed)
    return pd.DataFrame(rows), not_run


def reference_side(side: Side) -> Side | None:
    """What a table row is compared with: a "test w/o vis" row with the same method tested
    with visibility; any other row with its method's reference (``register_method``)."""
    if not side.vis:
        return Side(side.method)
    reference = method_reference(side.method)
    return None if reference is None else Side(reference)


def differences_frame(
    per_query: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Every row's paired difference to its reference on every test set it shares with it.

    The claims' pairing and bootstrap (``claim_rows``) for each (method, vis) of the
    per-query rows whose reference was run too; "test w/o vis" rows only for methods that
    predict visibility.

    Returns:
        Tidy rows as ``claim_rows`` gives them, without claim, text, relation and verdict.
    """
    present = run_methods(per_query)
    datasets = tuple(sorted(per_query["dataset"].unique()))
    # a method without visibility gives the same results w/o vis: nothing to compare
    with_vis = set(per_query.loc[per_query["visible_parts"] != "", "method"])
    rows = []
    for method, vis in sorted(present):
        side = Side(method, vis)
        reference = reference_side(side)
        if reference is None or (reference.method, reference.vis) not in present:
            continue
        if not vis and method not in with_vis:
            continue
        pair = Claim("", "", side, reference, ">", datasets)
        rows += claim_rows(per_query, pair, n_resamples, seed)
    frame = pd.DataFrame(rows)
    return frame.drop(columns=["claim", "text", "relation", "verdict"], errors="ignore")
