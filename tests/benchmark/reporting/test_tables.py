"""Tests of the paper-style tables: layout, values, marks, captions, LaTeX that compiles."""

from __future__ import annotations

import io
import shutil
import subprocess

import pandas as pd
import pytest

from benchmark.errors import UnknownNameError, UserError
from benchmark.reporting.table_build import SPECS, build
from benchmark.reporting.table_render import render_tables
from benchmark.reporting.tables import render_all, write_tables
from tests.benchmark.reporting.result_rows import frame, rows


def render(df: pd.DataFrame, table: str, fmt: str, trials: int | None = None) -> str:
    """One table of the paper (``SPECS`` name) rendered from result rows."""
    return render_tables(build(df, SPECS[table], trials), fmt)


def _md_table(text: str) -> list[list[str]]:
    """The cells of the first Markdown table in ``text`` (header first, separator dropped)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return [cells[0]] + cells[2:]


def _ablation_frame() -> pd.DataFrame:
    groups = []
    values = {  # (method, vis) -> (mAP, rank1) on seed 0; seed 1 adds 0.02 to both
        ("hpnet", True): (0.774, 0.873),
        ("baseline", True): (0.540, 0.621),
        ("hpnet_wo_coco", True): (0.709, 0.824),
        ("hpnet", False): (0.548, 0.464),
        ("pcb", True): (0.389, 0.413),
        ("hpnet_share_conv5", True): (0.763, 0.865),
    }
    for seed in (0, 1):
        for (method, vis), (m_ap, r1) in values.items():
            d = 0.02 * seed
            groups.append(
                rows(
                    method,
                    "occluded_reid",
                    seed=seed,
                    vis=vis,
                    mAP=m_ap + d,
                    rank1=r1 + d,
                    rank5=0.9,
                    rank10=0.95,
                    queries=1000,
                    skipped=0,
                )
            )
    return frame(*groups)


def _single_frame() -> pd.DataFrame:
    groups = []
    for method, r1, r3 in (
        ("hpnet", 0.806, 0.917),
        ("baseline", 0.569, 0.785),
        ("pcb", 0.677, 0.819),
    ):
        for dataset in ("partial_reid", "partial_ilids_2018"):
            groups.append(
                rows(
                    method,
                    dataset,
                    mode="single",
                    rank1=r1,
                    rank3=r3,
                    mAP=0.5,
                    rank1_std=0.031,
                    trials=10,
                )
            )
    return frame(*groups)


def test_table4_rows_in_paper_order_with_mean_std_and_marks():
    text = render(_ablation_frame(), "table4", "md")
    table = _md_table(text)
    assert table[0] == [
        "Method",
        "Occluded-REID mAP",
        "Occluded-REID R1",
        "Occluded-REID R5",
        "Occluded-REID R10",
    ], f"header {table[0]}"
    labels = [row[0] for row in table[1:]]
    assert labels == [
        "Baseline",
        "HPNet, test w/o vis",
        "HPNet, share Conv5",
        "HPNet, λcocoseg = 0",
        "HPNet",
        "PCB",
    ], f"paper order, absent rows left out, PCB extra: {labels}"
    hpnet = table[1:][labels.index("HPNet")]
    assert hpnet[1] == "**78.4 ± 1.4**", f"mean ± sample std over 2 seeds, best bold: {hpnet[1]}"
    share = table[1:][labels.index("HPNet, share Conv5")]
    assert share[2] == "_87.5 ± 1.4_", f"second best underlined (italics): {share[2]}"
    assert "2 seeds" in text and "occluded_body_images" in text and "Multi-gallery-shot" in text


def test_table4_latex_labels_and_extra_rows_rule():
    tex = render(_ablation_frame(), "table4", "latex")
    assert r"HPNet, $\lambda_{cocoseg}=0$" in tex, "lambda written as math"
    assert r"\textbf{78.4 $\pm$ 1.4}" in tex and r"\underline{87.5 $\pm$ 1.4}" in tex
    body = tex[tex.index(r"\midrule") :]
    assert body.count(r"\midrule") == 2 and body.index("PCB") > body.rindex(r"\midrule")
    for rule in (r"\toprule", r"\bottomrule", r"\begin{tabular}"):
        assert rule in tex, f"booktabs table lacks {rule}"
    assert tex.isascii(), "LaTeX output must be plain ASCII"


def test_table2_groups_datasets_and_keeps_trial_std_out_of_cells():
    text = render(_single_frame(), "table2", "md")
    table = _md_table(text)
    assert table[0][1:] == [
        "Partial-REID R1",
        "Partial-REID R3",
        "Partial-iLIDS'18 R1",
        "Partial-iLIDS'18 R3",
    ], f"columns grouped by data set: {table[0]}"
    assert [row[0] for row in table[1:]] == ["Baseline", "PCB", "HPNet"], "HPNet last"
    assert table[3][1] == "**80.6**" and table[2][1] == "_67.7_" and table[1][1] == "56.9"
    assert "3.1" not in text, "single-shot trial std must not appear in the cells"
    for fact in (
        "Single-gallery-shot",
        "10 seeded trials",
        "partial_body_images",
        "Probe",
        "eq. (1)",
        "not comparable to the paper's numbers on real data",
        "one seed",
    ):
        assert fact in text, f"caption lacks {fact!r}"
    csv = pd.read_csv(io.StringIO(render(_single_frame(), "table2", "csv")))
    assert set(csv["trial_std"].dropna()) == {3.1}, "the trial std goes to the CSV"


def test_trials_from_config_when_no_trials_rows():
    df = _single_frame()
    df = df[df["metric"] != "trials"]
    assert "unrecorded number of" in render(df, "table2", "md"), "no trials: say so"
    assert "100 seeded trials" in render(df, "table2", "md", trials=100), "trials from config"


def test_table3_columns_and_two_query_folders():
    df = frame(
        rows("hpnet", "occluded_reid", rank1=0.87, mAP=0.77),
        rows("hpnet", "partial_ilids_2019", rank1=0.72, mAP=0.59),
        rows("hpnet", "partial_reid", rank1=0.85, mAP=0.81),
        rows("hpnet", "partial_reid", query_set="occluded_body_images", rank1=0.6, mAP=0.5),
    )
    header = _md_table(render(df, "table3", "md"))[0]
    assert header[1:] == [
        "Occluded-REID R1",
        "Occluded-REID mAP",
        "Partial-REID (occluded_body_images) R1",
        "Partial-REID (occluded_body_images) mAP",
        "Partial-REID (partial_body_images) R1",
        "Partial-REID (partial_body_images) mAP",
        "Partial-iLIDS'19 R1",
        "Partial-iLIDS'19 mAP",
    ], f"paper column order; both Partial-REID query folders named: {header}"


def test_minp_sits_beside_map_in_the_multi_shot_tables_when_rows_have_it():
    df = frame(
        rows("hpnet", "occluded_reid", rank1=0.87, mAP=0.77, mINP=0.41),
        rows("baseline", "occluded_reid", rank1=0.80, mAP=0.70, mINP=0.32),
    )
    text = render(df, "table3", "md")
    header, *body = _md_table(text)
    assert header[1:] == ["Occluded-REID R1", "Occluded-REID mAP", "Occluded-REID mINP"]
    minp = {row[0]: row[-1] for row in body}
    assert minp["Baseline"].strip("*_") == "32.0" and minp["HPNet"].strip("*_") == "41.0", minp
    assert "mINP: mean inverse negative penalty" in text, "the caption says what mINP is"
    assert "mINP" in _md_table(render(df, "all_multi", "md"))[0][-1]
    old = frame(rows("hpnet", "occluded_reid", rank1=0.87, mAP=0.77))  # stored before mINP
    assert "mINP" not in render(old, "table3", "md")


def test_real_and_synthetic_get_separate_tables():
    df = frame(
        rows("hpnet", "market1501", rank1=0.9, mAP=0.8),
        rows("hpnet", "market1501", data="real", rank1=0.95, mAP=0.85),
    )
    text = render(df, "all_multi", "md")
    assert text.count("| Method") == 2, "one table per kind of data"
    assert text.index("(real)") < text.index("(synthetic)"), "real data first"
    assert "Market-1501 (holistic) R1" in text, "the registered test label of market1501"


def test_latex_escapes_special_characters():
    df = frame(
        rows(r"my_net&50%#1\x~", "market1501", rank1=0.9, mAP=0.8),
        rows("hpnet", "market1501", rank1=0.8, mAP=0.7),
    )
    tex = render(df, "all_multi", "latex")
    assert r"my\_net\&50\%\#1\textbackslash{}x\textasciitilde{}" in tex, (
        "special characters escaped"
    )


def test_unknown_format_and_absent_data():
    df = _ablation_frame()
    with pytest.raises(UnknownNameError, match="html"):
        render_all(df, "html")
    assert build(df, SPECS["table2"]) == [], "no single-gallery-shot rows: no table2"
    with pytest.raises(UserError, match="no results to tabulate"):
        render_all(df[df["mode"] == "single"], "md")


def test_variant_without_vis_row_has_its_label_below_its_row():
    df = frame(
        rows("hpnet", "occluded_reid", rank1=0.87, mAP=0.77, rank5=0.9, rank10=0.95),
        rows("hpnet_wo_coco", "occluded_reid", rank1=0.82, mAP=0.7, rank5=0.9, rank10=0.95),
        rows("hpnet_wo_coco", "occluded_reid", vis=False, rank1=0.6, mAP=0.5),
        rows("baseline", "occluded_reid", rank1=0.6, mAP=0.5, rank5=0.8, rank10=0.9),
    )
    labels = [row[0] for row in _md_table(render(df, "table3", "md"))[1:]]
    assert labels == [
        "Baseline",
        "HPNet, λcocoseg = 0",
        "HPNet, λcocoseg = 0, test w/o vis",
        "HPNet",
    ], f"registered labels, w/o vis right below its row: {labels}"
    table4 = render(df, "table4", "latex")
    extra = table4[table4.rindex(r"\midrule") :]
    assert r"HPNet, $\lambda_{cocoseg}=0$, test w/o vis" in extra, "not a Table 4 row: below"


def test_unregistered_method_shows_its_name_after_the_builtins():
    df = frame(
        rows("aaa_net", "occluded_reid", rank1=0.9, mAP=0.8),
        rows("hpnet", "occluded_reid", rank1=0.87, mAP=0.77),
        rows("aaa_net", "occluded_reid", vis=False, rank1=0.5, mAP=0.4),
        rows("pcb", "occluded_reid", rank1=0.6, mAP=0.5),
    )
    labels = [row[0] for row in _md_table(render(df, "table3", "md"))[1:]]
    assert labels == ["PCB", "HPNet", "aaa_net", "aaa_net, test w/o vis"], labels


def test_write_tables_writes_three_files(tmp_path):
    df = pd.concat([_ablation_frame(), _single_frame()], ignore_index=True)
    paths = write_tables(df, tmp_path)
    assert sorted(p.name for p in paths) == ["tables.csv", "tables.md", "tables.tex"]
    assert all(p.stat().st_size > 0 for p in paths) and not list(tmp_path.glob("*.tmp*"))
    csv = pd.read_csv(tmp_path / "tables.csv")
    assert set(csv["table"]) == {"table2", "table3", "table4", "all_multi", "all_single"}


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(tmp_path):
    df = pd.concat(
        [
            _ablation_frame(),
            _single_frame(),
            frame(
                rows(r"my_net&50%#1\x~", "market1501", rank1=0.9, mAP=0.8, distance="official"),
                rows("hpnet", "market1501", rank1=0.8, mAP=0.7),
            ),
        ],
        ignore_index=True,
    )
    body = render_all(df, "latex")
    doc = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
    (tmp_path / "doc.tex").write_text(doc + body + "\\end{document}\n")
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"pdflatex failed:\n{done.stdout[-2000:]}"
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_official_distance_rows_show_map_zzd_under_its_own_name():
    df = frame(
        rows("hpnet", "occluded_reid", distance="official", rank1=0.80, mAP=0.70, mAP_zzd=0.66),
        rows("baseline", "occluded_reid", distance="official", rank1=0.6, mAP=0.5, mAP_zzd=0.47),
    )
    text = render(df, "table3", "md")
    table = _md_table(text)
    assert table[0][1:] == ["Occluded-REID R1", "Occluded-REID mAP_zzd"], f"header {table[0]}"
    hpnet = table[1:][[r[0] for r in table[1:]].index("HPNet")]
    assert hpnet[2] == "**66.0**", f"the official trapezoid AP, not torchreid's 70.0: {hpnet}"
    assert "70.0" not in text and "R1/mAP_zzd in %" in text, "mAP dropped, caption names it"
    assert "official HPNet code's trapezoid AP" in text, "the caption says what mAP_zzd is"
    tex = render(df, "table3", "latex")
    assert r"R1 & mAP\_zzd \\" in tex, "the underscore is escaped in the LaTeX header"


def test_paper_distance_rows_keep_map_beside_official_rows():
    df = frame(
        rows("hpnet", "occluded_reid", rank1=0.80, mAP=0.70, mAP_zzd=0.66),
        rows("hpnet", "occluded_reid", distance="official", rank1=0.78, mAP=0.69, mAP_zzd=0.64),
    )
    table = _md_table(render(df, "table3", "md"))
    assert table[0][2:] == ["Occluded-REID mAP", "Occluded-REID mAP_zzd"], f"{table[0]}"
    by_label = {r[0]: r[1:] for r in table[1:]}
    paper = by_label["HPNet (paper distance)"]
    official = by_label["HPNet (official distance)"]
    assert paper[1:] == ["70.0", "-"], f"paper row: torchreid's mAP only: {paper}"
    assert official[1:] == ["-", "64.0"], f"official row: mAP_zzd only: {official}"
    only_paper = frame(rows("hpnet", "occluded_reid", rank1=0.8, mAP=0.7, mAP_zzd=0.66))
    assert "zzd" not in render(only_paper, "table3", "md"), "paper rows never show mAP_zzd"


def test_official_rows_stored_before_map_zzd_keep_their_map():
    df = frame(rows("hpnet", "occluded_reid", distance="official", rank1=0.8, mAP=0.7))
    table = _md_table(render(df, "table3", "md"))
    assert table[0][1:] == ["Occluded-REID R1", "Occluded-REID mAP"], f"{table[0]}"
    assert table[1][2] == "70.0", f"no mAP_zzd row to show: mAP stays: {table[1]}"


def test_every_ranking_caption_states_the_tie_rule():
    for name, df in (("table4", _ablation_frame()), ("table2", _single_frame())):
        for fmt in ("md", "latex"):
            text = render(df, name, fmt)
            assert "Ties: pessimistic" in text, f"{name} {fmt} caption lacks the tie rule"
            assert "true match ranks after every non-match" in text, f"{name} {fmt}"
