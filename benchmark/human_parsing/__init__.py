"""Human parsing: train a part segmenter on DensePose-COCO, pseudo-label Market-1501, score it."""

from __future__ import annotations

from benchmark.human_parsing.cli import add_parse_parser, run_parse

__all__ = ["add_parse_parser", "run_parse"]
