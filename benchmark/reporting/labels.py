"""Display labels and row order of methods and data sets, read from their registries."""

from __future__ import annotations

from reid_datasets.base import dataset_info
from reid_methods.base import method_row

LATEX_ESCAPES = {c: "\\" + c for c in "&%$#_{}"} | {
    "\\": r"\textbackslash{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}


def escape_latex(text: str) -> str:
    """Escape LaTeX special characters in plain text (``±`` becomes ``$\\pm$``)."""
    return "".join(LATEX_ESCAPES.get(char, char) for char in text)


def row_label(method: str, vis: bool, latex: bool = False) -> str:
    """The label of a method's row (``vis=False``: its "test w/o vis" row), LaTeX if asked."""
    row = method_row(method, vis)
    if not latex:
        return row.label
    return row.latex if row.latex is not None else escape_latex(row.label)


def row_order(method: str, vis: bool, distance: str = "paper") -> tuple:
    """Sort key of a row: registered order (the paper's), then the rest by name; the paper's
    distance before others."""
    order = method_row(method, vis).order
    return (order is None, order or 0, method, not vis, distance != "paper", distance)


def in_paper_table(method: str, vis: bool, table: str) -> bool:
    """Whether the row is one of the main rows of the paper's ``table`` (e.g. "table4")."""
    return method_row(method, vis).table == table


def dataset_label(name: str) -> str:
    """The label of a data set's results, e.g. "Partial-iLIDS'18"."""
    return dataset_info(name).label
