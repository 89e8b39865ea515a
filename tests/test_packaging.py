"""Packaging: the import names, the package list, the version source, and coexistence with a
package called ``datasets`` (Hugging Face's, in most ML environments)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import tomllib

import benchmark
import reid_datasets
import reid_methods

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"benchmark": "benchmark", "reid_methods": "methods", "reid_datasets": "datasets"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_listed_in_pyproject() -> None:
    on_disk = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((name, *parts)))
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    assert listed == on_disk, f"missing: {on_disk - listed}; stale: {listed - on_disk}"


def test_every_module_imports() -> None:
    for package in (benchmark, reid_methods, reid_datasets):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def test_version_has_one_source() -> None:
    project = _pyproject()["project"]
    assert "version" in project["dynamic"] and "version" not in project, "one version source"
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"]["attr"] == (
        "benchmark.__version__"
    )
    assert benchmark.__version__.count(".") == 2, benchmark.__version__


def test_commands_run_beside_another_datasets_package(tmp_path) -> None:
    """A stand-in Hugging Face ``datasets`` first on the path: our commands work from another
    folder, and ``import datasets`` still gives the other package."""
    fake = tmp_path / "site" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('HUGGING_FACE = True\n__version__ = "9.9.9"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"PYTHONPATH": str(tmp_path / "site")}
    listed = subprocess.run(
        [sys.executable, "-m", "benchmark", "list"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "market1501" in listed.stdout and "hpnet" in listed.stdout, listed.stdout
    probe = (
        "import datasets, reid_datasets, benchmark.cli; "
        "assert datasets.HUGGING_FACE, datasets.__file__; "
        "print(reid_datasets.__name__)"
    )
    both = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert both.returncode == 0 and both.stdout.strip() == "reid_datasets", both.stderr[-2000:]
