"""The window must open without torch, and Qt must not load before torch's Windows pre-import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_main_window_import_does_not_import_heavy_libraries():
    proc = _run(
        "import lora_studio.app.main_window, lora_studio.app.selftest, sys\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'peft', 'accelerate') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_launch_module_does_not_import_qt():
    proc = _run("import lora_studio.app.launch, sys\nassert 'PySide6' not in sys.modules\n")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("platform", "expected"), [("win32", True), ("linux", False), ("darwin", False)])
def test_torch_is_preloaded_only_on_windows(platform, expected, monkeypatch):
    from lora_studio.app import launch

    monkeypatch.delenv(launch.NO_PRELOAD_ENV, raising=False)
    assert launch.needs_torch_before_qt(platform) is expected
