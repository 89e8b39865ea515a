"""``python -m benchmark score FILE.npz``: score part features extracted by any model.

Every pid is an ordinary identity (0 and negative pids included) unless ``--market-ids`` asks
for Market-1501's codes; ties are broken pessimistically (``TIE_RULE``). Both rules are stated
in the output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tabulate import tabulate

from benchmark.commands.values import positive, seed
from benchmark.errors import UserError
from benchmark.evaluation.allocator import pin_mmap_threshold
from benchmark.evaluation.distance import DISTANCES
from benchmark.evaluation.protocols import MODES, RANKS, evaluate
from benchmark.evaluation.rerank import K1, K2, LAMBDA, RerankParams
from benchmark.evaluation.score import FORMAT, ID_RULES, TIE_RULE, check_visible, load_npz


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help=f"features file: {FORMAT}")
    parser.add_argument(
        "--mode",
        default="multi",
        choices=MODES.names(),
        help="multi- or single-gallery-shot (default: multi)",
    )
    parser.add_argument(
        "--trials",
        type=positive,
        default=10,
        help="single-shot trials; the official HPNet code used 100 (default: 10)",
    )
    parser.add_argument(
        "--seed", type=seed, default=0, help="seed of the single-shot trials (default: 0)"
    )
    parser.add_argument(
        "--no-vis", action="store_true", help='"test w/o vis": every part counts as visible'
    )
    parser.add_argument(
        "--distance",
        default="paper",
        choices=DISTANCES.names(),
        help="paper (eq. 1) or official (the authors' code) (default: paper)",
    )
    parser.add_argument(
        "--market-ids",
        action="store_true",
        help="Market-1501 pid codes: pid 0 = distractor (a negative, never a match; a pid-0 "
        "query is skipped), pid < 0 = junk (removed) (default: every pid is an identity)",
    )
    parser.add_argument(
        "--rerank",
        action="store_true",
        help="rank by k-reciprocal re-ranked distances (Zhong et al., CVPR 2017; its own "
        "protocol, memory O(N k1)); pairs sharing no visible part first get their row's "
        "largest finite distance",
    )
    parser.add_argument("--k1", type=positive, default=K1, help=f"re-ranking's k1 (default: {K1})")
    parser.add_argument("--k2", type=positive, default=K2, help=f"re-ranking's k2 (default: {K2})")
    parser.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        default=LAMBDA,
        help=f"re-ranking's lambda, weight of the original distance (default: {LAMBDA})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_score_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``score`` subcommand to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "score",
        help="score externally extracted part features (.npz)",
        description="Rank-1/3/5/10, mAP (torchreid), mAP_zzd (the official HPNet code's "
        "trapezoid AP) and mINP (mean inverse negative penalty) of query against gallery "
        "features from any model. Ties: "
        + TIE_RULE
        + ". Also reported: queries_no_visible (queries with no visible part) and "
        "first_match_tied (queries whose first match a tie decided).",
    )
    _add_arguments(parser)
    parser.set_defaults(func=run_score)
    return parser


def _table(result, args: argparse.Namespace) -> str:
    shot = (
        "multi-gallery-shot"
        if args.mode == "multi"
        else f"single-gallery-shot, {args.trials} trials"
    )
    vis = "without visibility" if args.no_vis else "with visibility"
    rerank = f", k-reciprocal re-ranking ({_params(args).text()})" if args.rerank else ""
    head = (
        f"{shot}, {args.distance} distance{rerank}, {vis}: {result.queries} queries counted, "
        f"{result.skipped} skipped (no match); ids {ID_RULES[args.market_ids]}; ties "
        f"pessimistic; {result.queries_no_visible} queries with no visible part, "
        f"{result.first_match_tied} first matches decided by a tie"
    )
    rows = []
    for k in RANKS:
        std = getattr(result, f"rank{k}_std")
        value = f"{100 * getattr(result, f'rank{k}'):.2f}"
        rows.append([f"Rank-{k}", value + ("" if std is None else f" ± {100 * std:.2f}")])
    rows.append(["mAP", f"{100 * result.mAP:.2f}"])
    rows.append(["mAP_zzd", f"{100 * result.mAP_zzd:.2f}"])
    rows.append(["mINP", f"{100 * result.mINP:.2f}"])
    return head + "\n" + tabulate(rows, headers=["metric", "%"], tablefmt="github")


def _params(args: argparse.Namespace) -> RerankParams:
    return RerankParams(args.k1, args.k2, args.lam)


def run_score(args: argparse.Namespace) -> int:
    """Load ``args.file``, evaluate it and print the result (one JSON object with --json)."""
    if not args.rerank and (args.k1, args.k2, args.lam) != (K1, K2, LAMBDA):
        raise UserError("--k1, --k2 and --lambda set re-ranking: add --rerank or drop them")
    params = _params(args) if args.rerank else None
    pin_mmap_threshold()  # a scoring-only process: working memory flat in the gallery's size
    query, gallery = load_npz(args.file)
    if not args.no_vis:
        check_visible(query, gallery, args.file)
    result = evaluate(
        query,
        gallery,
        mode=args.mode,
        trials=args.trials,
        seed=args.seed,
        use_visibility=not args.no_vis,
        distance=args.distance,
        market_ids=args.market_ids,
        rerank=params,
    )
    if result.queries == 0:
        raise UserError(
            f"{args.file}: no query has a match in the gallery (all {result.skipped} skipped); "
            "check query_pids/gallery_pids and that matches are not all on the query's camera"
        )
    rules: dict[str, object] = {"ids": "market" if args.market_ids else "plain"}
    rules["ties"] = "pessimistic"
    if params is not None:  # the keys without --rerank stay as they are
        rules |= {"rerank": {"k1": params.k1, "k2": params.k2, "lambda": params.lam}}
    print(json.dumps(result.to_dict() | rules) if args.json else _table(result, args))
    return 0
