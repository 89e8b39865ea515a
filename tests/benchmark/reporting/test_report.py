"""The HTML report: one self-contained file (protocol, tables, figures, curves, env, config)."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.__main__ import main
from benchmark.errors import DataError
from benchmark.reporting.report import render_html, write_html

TABLES_MD = """**table3** (synthetic). Multi-gallery-shot; R1 in %.

| Method | Occluded-REID R1 |
| --- | :---: |
| HPNet | **23.3** |
| Baseline | 14.7 |
"""
CLAIMS_MD = """| Claim | Holds |
| --- | --- |
| visibility helps | yes |
"""
# A resource that would load at view time: src/href/url() or an @import pointing at http(s).
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*https?:|url\(\s*["']?https?:|@import""", re.I)


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 10, 3), color, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_run(tmp_path, tables: bool = True):
    run = tmp_path / "run1"
    (run / "figures").mkdir(parents=True)
    (run / "results.csv").write_text("run,method\n")
    if tables:
        (run / "tables.md").write_text(TABLES_MD)
    (run / "claims.md").write_text(CLAIMS_MD)
    config = {"profile": "smoke", "methods": ["hpnet"], "seeds": [0]}
    config |= {"eval": {"distance": "paper", "modes": ["multi"], "trials": 3, "seed": 0}}
    (run / "config.json").write_text(json.dumps(config))
    envs = [{"torch": "2.14.1", "device": "cpu"}, {"torch": "2.14.1", "device": "cuda:0"}]
    (run / "env.json").write_text(json.dumps(envs))
    (run / "figures" / "bars_x.png").write_bytes(_png((200, 0, 0)))
    (run / "figures" / "ranklist_y.png").write_bytes(_png((0, 200, 0)))
    log = run / "methods" / "hpnet-seed0" / "train_log.csv"
    log.parent.mkdir(parents=True)
    frame = pd.DataFrame(
        {"epoch": [1, 2, 3], "loss_id": [3.0, 2.0, 1.5], "loss_total": [4, 3, 2]}
        | {"val_rank1": [0.1, 0.3, 0.4], "lr": [0.1, 0.1, 0.01]}
    )
    frame.to_csv(log, index=False)
    return run


def test_report_inlines_everything_and_holds_every_section(tmp_path) -> None:
    run = make_run(tmp_path)
    out = write_html(run)
    html = out.read_text(encoding="utf-8")
    assert out == run / "report.html" and not list(run.glob("*.tmp*")), "written atomically"
    assert not REMOTE.search(html), "no resource loads over the network"
    assert "<script" not in html.lower(), "no JavaScript at all"
    assert html.count("<table") == 5, "tables.md, claims.md, protocol and two env records"
    assert "<td>HPNet</td>" in html and "<strong>23.3</strong>" in html, "Markdown rendered"
    assert "<td>visibility helps</td>" in html, "other Markdown tables of the run"
    assert html.index("tables.md") < html.index("claims.md"), "the main tables first"
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == 3, "two figures and one training-curve plot"
    first = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert first.getpixel((5, 5))[:3] == (200, 0, 0), "figures inlined byte for byte, by name"
    assert "methods/hpnet-seed0/train_log.csv" in html
    assert "cuda:0" in html and "<th>device</th>" in html, "every env record"
    assert "&#34;profile&#34;: &#34;smoke&#34;" in html, "config.json, escaped"
    assert "paper eq. (1)" in html and "pessimistic" in html, "the protocol"


def test_training_curve_plots_losses_and_validation(tmp_path) -> None:
    from benchmark.reporting.report import curve_png

    log = pd.DataFrame({"epoch": [1, 2], "loss_id": [2.0, 1.0], "val_mAP": [0.2, 0.3]})
    image = Image.open(io.BytesIO(curve_png(log, "x")))
    wide = Image.open(io.BytesIO(curve_png(log.drop(columns="val_mAP"), "x")))
    assert image.width > 1.6 * wide.width, "a second panel for the val_* columns"


def test_report_without_tables_md_renders_them_from_results(tmp_path, monkeypatch) -> None:
    run = make_run(tmp_path, tables=False)
    calls = []

    def fake_render(df, per_query, fmt):
        calls.append((per_query, fmt))
        return TABLES_MD

    monkeypatch.setattr("benchmark.reporting.report.load_results", lambda d: pd.DataFrame())
    monkeypatch.setattr("benchmark.reporting.report.load_per_query", lambda d: "per-query")
    monkeypatch.setattr("benchmark.reporting.report.render_report", fake_render)
    html = render_html(run)
    assert calls == [("per-query", "md")] and "<td>HPNet</td>" in html, "as 'tables' renders"


def test_folder_without_results_is_one_line(tmp_path, capsys) -> None:
    with pytest.raises(DataError, match="has no results.csv"):
        render_html(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no results.csv" in err[0], err
    assert not (tmp_path / "report.html").exists()
