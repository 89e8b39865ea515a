"""Result rows -> the paper's Tables 2, 3 and 4 (and all results) as Markdown, LaTeX and CSV.

The public API; building lives in ``table_build``, rendering in ``table_render``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.atomic import write_text_atomic
from benchmark.errors import UnknownNameError, UserError
from benchmark.reporting.table_build import build_all
from benchmark.reporting.table_claims import Confidence, confidence_frames, render_confidence
from benchmark.reporting.table_controls import render_costs
from benchmark.reporting.table_parsing import build_parsing
from benchmark.reporting.table_render import render_tables

FORMATS = ("md", "latex", "csv")
FILE_NAMES = {"md": "tables.md", "latex": "tables.tex", "csv": "tables.csv"}


def render_all(df: pd.DataFrame, fmt: str, trials: int | None = None) -> str:
    """Render every table the data supports: the paper's, "all results", then parsing quality.

    Args:
        df: result rows (see ``benchmark.store.rows.ROW_COLUMNS``).
        fmt: "md", "latex" or "csv".
        trials: single-shot trial count (from the run config) for captions when the rows hold
            no "trials" metric.

    Returns:
        The tables (one per table and kind of data present) as text.
    """
    if fmt not in FORMATS:
        raise UnknownNameError(f"unknown table format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    built = build_all(df, trials) + build_parsing(df)
    if not built:
        raise UserError("no results to tabulate; run an evaluation first")
    return render_tables(built, fmt)


def write_tables(df: pd.DataFrame, out_dir: Path, trials: int | None = None) -> list[Path]:
    """Write tables.md, tables.tex (needs booktabs) and tables.csv atomically into ``out_dir``."""
    texts = {fmt: render_all(df, fmt, trials) for fmt in FORMATS}  # all built before any write
    return [write_text_atomic(text, Path(out_dir) / FILE_NAMES[fmt]) for fmt, text in texts.items()]


def render_report(
    df: pd.DataFrame,
    per_query: pd.DataFrame | None,
    fmt: str,
    trials: int | None = None,
    frames: Confidence | None = None,
) -> str:
    """``render_all`` followed, in Markdown and LaTeX, by the claims, differences and
    visible-part tables.

    Args:
        df: result rows.
        per_query: per-query rows (``benchmark.store.per_query``); None when the results
            have none (an older run): the claims give way to a one-line note.
        fmt: "md", "latex" or "csv" (csv: the result tables only, one row per cell).
        trials: as in ``render_all``.
        frames: the per-query tables' data when already computed (``confidence_frames``).
    """

    text = render_all(df, fmt, trials)
    if fmt == "csv":
        return text
    costs = render_costs(df, fmt, per_query)  # occluded/partial sets against their controls
    text += "\n" + costs if costs else ""
    return text + "\n" + render_confidence(per_query, fmt, frames=frames)


def write_report(
    df: pd.DataFrame, per_query: pd.DataFrame | None, out_dir: Path, trials: int | None = None
) -> dict[str, Path]:
    """Write ``render_report`` as tables.md and tables.tex atomically into ``out_dir``."""

    frames = None if per_query is None or per_query.empty else confidence_frames(per_query)
    texts = {fmt: render_report(df, per_query, fmt, trials, frames) for fmt in ("md", "latex")}
    return {
        fmt: write_text_atomic(text, Path(out_dir) / FILE_NAMES[fmt]) for fmt, text in texts.items()
    }
