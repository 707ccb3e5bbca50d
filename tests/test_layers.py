"""SPEC §1: the layers run one way (the import-linter contracts in pyproject.toml), and no module below the TUI
loads Textual, or litellm before the first model call."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEADLESS_PACKAGES = ("oboto.core", "oboto.llm", "oboto.agent", "oboto.services", "oboto.commands")


def headless_modules() -> list[str]:
    """Every module of the packages that must work without Textual, found by walking them."""
    names = []
    for package_name in HEADLESS_PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        names.extend(info.name for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."))
    return names


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the `oboto` package inside `project`, with `project`'s pyproject.toml."""
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(command), "--no-cache", "--config", str(project / "pyproject.toml")], cwd=project,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(project)})


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_an_import_from_a_higher_layer_breaks_the_contract(tmp_path: Path) -> None:
    """The contract bites: a copy of the package with one agent module importing the services fails the check."""
    shutil.copytree(ROOT / "oboto", tmp_path / "oboto", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "oboto" / "agent" / "prompt.py"
    planted.write_text(planted.read_text() + "\nfrom oboto.services import runtime  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Layers run one way" in result.stdout and "BROKEN" in result.stdout
    assert "oboto.agent.prompt -> oboto.services.runtime" in result.stdout


def test_the_walk_finds_every_headless_module() -> None:
    files = [path for package in HEADLESS_PACKAGES
             for path in (ROOT / package.replace(".", "/")).rglob("*.py")]
    assert len(headless_modules()) == len(files)


@pytest.mark.parametrize("module", headless_modules())
def test_a_headless_module_imports_neither_textual_nor_litellm(module: str) -> None:
    code = f"import sys, {module}\nprint('textual' in sys.modules, 'litellm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.stdout.split() == ["False", "False"]
