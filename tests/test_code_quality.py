"""Lint and layering rules run as part of the test suite, so the README's test command checks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    assert path, f"{name} is not installed: run the README's test command (it installs the test extras)"
    return path


def test_ruff_is_clean():
    proc = subprocess.run(
        [_tool("ruff"), "check", "lora_studio", "tests", "benchmarks", "packaging"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_layering_contracts_hold():
    """Only lora_studio.app imports Qt; light modules never import torch; core never imports app/cli."""
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower().replace("0 broken", "")


@pytest.mark.slow
def test_type_checker_is_clean():
    """mypy over the Qt-free core packages ([tool.mypy] in pyproject.toml lists them): zero errors."""
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout


def test_cli_help_is_instant_and_does_not_import_torch():
    code = (
        "import sys, runpy; sys.argv=['lora-studio','--help']\n"
        "try:\n    runpy.run_module('lora_studio.cli.main', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported by --help'\n"
        "assert 'PySide6' not in sys.modules, 'Qt imported by --help'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: lora-studio" in proc.stdout


def test_panels_are_qt_views_of_readable_size():
    """Logic without Qt lives in the core packages, and a panel or widget class stays readable in one
    sitting (issue 15): every module under app/panels uses Qt, and no class there is over 300 lines."""
    import ast

    too_long, without_qt = [], []
    for path in sorted((ROOT / "lora_studio" / "app" / "panels").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "PySide6" not in text:
            without_qt.append(path.name)
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                too_long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not without_qt, f"Qt-free modules belong in the core packages: {without_qt}"
    assert not too_long, f"split these into a view and controllers: {too_long}"
