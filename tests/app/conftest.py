"""App test fixtures: a context with its own settings file and a window that never touches real state."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from lora_studio.app.state import AppContext
from lora_studio.core.log import RingHandler
from lora_studio.core.settings import AppSettings


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings.toml"


@pytest.fixture
def context(qapp, settings_file: Path) -> AppContext:
    ctx = AppContext(AppSettings(), settings_path=settings_file)
    yield ctx
    ctx.jobs.shutdown(5000)


@pytest.fixture
def ring():
    handler = RingHandler(capacity=500)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def window(qtbot, context: AppContext, ring: RingHandler, tmp_path: Path):
    from lora_studio.app.main_window import MainWindow

    store = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    win = MainWindow(context, ring, state_store=store)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.fixture
def no_dialogs(monkeypatch):
    """Record error dialogs instead of showing them (a modal dialog would block the test)."""
    shown = []
    monkeypatch.setattr(
        "lora_studio.app.dialogs.error_dialog.ErrorDialog.exec", lambda self: shown.append(self.info)
    )
    return shown
