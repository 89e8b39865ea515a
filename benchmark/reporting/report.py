"""One self-contained HTML report per run: protocol, tables, figures, training curves, environment
and configuration, with every image inlined as a base64 data URI (nothing loads at view time).

Templating is Jinja2 (autoescaped); the Markdown tables are rendered by python-markdown with its
``tables`` extension; the training curves are drawn by matplotlib into memory.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import markdown
import pandas as pd

from benchmark.atomic import write_text_atomic
from benchmark.errors import DataError
from benchmark.reporting.figures import new_figure
from benchmark.reporting.report_template import TEMPLATE
from benchmark.reporting.tables import render_report  # the tables, claims included
from benchmark.store.per_query import load_per_query
from benchmark.store.results import load_results

SECTIONS = (
    ("protocol", "Protocol"),
    ("tables", "Tables"),
    ("figures", "Figures"),
    ("curves", "Training curves"),
    ("environment", "Environment"),
    ("config", "Configuration"),
)
TIE_RULE = "pessimistic: at equal distance a true match ranks after every non-match"
DISTANCES = {
    "paper": "paper eq. (1): Euclidean on unit part features, mean over commonly visible parts",
    "official": "official code: cosine, query-visible mean + commonly visible mean",
}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not readable JSON ({e}); restore it") from e


def protocol_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, value) lines of the run's evaluation protocol, from its ``config.json``."""
    ev, data = config.get("eval", {}), config.get("data", {})
    modes = {"multi": "multi-gallery-shot", "single": "single-gallery-shot"}
    trials = ev.get("trials", "?")
    rows = [
        ("profile", str(config.get("profile", "?"))),
        ("methods", ", ".join(map(str, config.get("methods", [])))),
        ("seeds", ", ".join(map(str, config.get("seeds", [])))),
        ("test sets", ", ".join(map(str, ev.get("datasets", []))) or "every registered test set"),
        ("modes", ", ".join(modes.get(m, str(m)) for m in ev.get("modes", []))),
        ("single-shot trials", f"{trials} (seed {ev.get('seed', '?')}); mAP on the full gallery"),
        ("distance", DISTANCES.get(ev.get("distance"), str(ev.get("distance")))),
        ("test w/o vis", "also reported" if ev.get("without_vis") else "not reported"),
        ("Partial-REID query folder", str(ev.get("partial_reid_query", "?"))),
        ("ties", TIE_RULE),
        ("data", str(data.get("root") or f"synthetic ({data.get('synth_profile', '?')})")),
        ("input size", f"{data.get('height', '?')}x{data.get('width', '?')}"),
    ]
    return rows + [("reported epoch", "the last training epoch; no choice made on test data")]


def markdown_tables(run_dir: Path) -> list[tuple[str, str]]:
    """(file name, HTML) of ``tables.md`` (rendered like ``tables`` does when absent: the paper's,
    parsing-quality and claims tables) and every other Markdown file of the run folder."""
    files = sorted(Path(run_dir).glob("*.md"))
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in files]
    if not any(name == "tables.md" for name, _ in texts):
        tables = render_report(load_results(run_dir), load_per_query(run_dir), "md")
        texts.insert(0, ("tables.md", tables))
    texts.sort(key=lambda item: item[0] != "tables.md")  # the main tables first
    return [(name, markdown.markdown(text, extensions=["tables"])) for name, text in texts]


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (inlined, so the page needs no file or network)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_uris(run_dir: Path) -> list[tuple[str, str]]:
    """(name, data URI) of every PNG in the run's ``figures/`` folder, by name."""
    return [(p.name, data_uri(p.read_bytes())) for p in sorted((run_dir / "figures").glob("*.png"))]


def curve_png(log: pd.DataFrame, title: str) -> bytes:
    """Loss terms and validation metrics against epoch (one panel each), as PNG bytes."""
    import seaborn as sns  # slow to import: loaded when a figure is drawn

    x = log["epoch"] if "epoch" in log.columns else pd.Series(range(1, len(log) + 1))
    panels = [
        ("loss", [c for c in log.columns if c.startswith("loss")]),
        ("validation", [c for c in log.columns if c.startswith("val_")]),
    ]
    panels = [(name, cols) for name, cols in panels if cols]
    with sns.axes_style("whitegrid"):
        fig = new_figure(4.6 * max(1, len(panels)), 3.2)
        axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
        for ax, (name, cols) in zip(axes, panels, strict=False):
            for col in cols:
                values = pd.to_numeric(log[col], errors="coerce")
                if values.notna().any():
                    ax.plot(x[values.notna()], values.dropna(), marker="o", markersize=3, label=col)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.legend(fontsize="x-small")
        fig.suptitle(title, fontsize="small")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def curve_uris(run_dir: Path) -> list[tuple[str, str]]:
    """(name, data URI) of a plot per training log (``train_log*.csv`` anywhere in the run)."""
    out = []
    for path in sorted(run_dir.rglob("train_log*.csv")):
        name = str(path.relative_to(run_dir))
        try:
            log = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue  # an empty or half-written log (a job still training) has no curve yet
        if len(log):
            out.append((name, data_uri(curve_png(log, name))))
    return out


def environment(run_dir: Path) -> list[list[tuple[str, str]]]:
    """``env.json`` as records of (key, value); it may hold one record or a list of them."""
    path = run_dir / "env.json"
    if not path.is_file():
        return []
    env = _read_json(path)
    records = env if isinstance(env, list) else [env]
    return [[(str(k), str(v)) for k, v in r.items()] for r in records if isinstance(r, dict)]


def render_html(run_dir: Path) -> str:
    """The report of ``run_dir`` as one HTML string (one-line DataError without results)."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.csv").is_file():
        raise DataError(f"{run_dir} has no results.csv; pass a run folder with results")
    config = _read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    import jinja2  # slow to import: loaded when a report is rendered

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE).render(
        title=f"Run {run_dir.resolve().name}",
        written=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        run_dir=str(run_dir),
        sections=SECTIONS,
        protocol=protocol_rows(config if isinstance(config, dict) else {}),
        tables=markdown_tables(run_dir),
        figures=figure_uris(run_dir),
        curves=curve_uris(run_dir),
        environment=environment(run_dir),
        config=json.dumps(config, indent=2, sort_keys=True),
    )


def write_html(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report of ``run_dir`` atomically (default ``run_dir/report.html``)."""
    html = render_html(Path(run_dir))
    return write_text_atomic(html, Path(out) if out else Path(run_dir) / "report.html")
