"""Issue 16 item 10: every tab fits 1280×800 and 1280×720, and the whole app 1920×1080 — with the
demo project open, no button's text is cut (each button is at least as wide as it asks to be), no
label is squeezed below its text, and every visible widget lies inside its parent (so inside the
window), except content scrolled inside a scroll area."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QLabel,
    QSizePolicy,
    QTabWidget,
    QWidget,
)

from lora_studio.cli.main import main as cli_main

SIZES = [(1280, 800), (1280, 720), (1920, 1080)]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "Demo project"
    assert cli_main(["demo", "create", str(root)]) == 0
    # a trained run in the project's output: its epochs are one LoRA entry with an epoch choice
    from tests.generation.conftest import make_kohya_lora

    first = make_kohya_lora(root / "output" / "zorb.safetensors", "sd1", 7)
    for name in ("zorb-e0001-s000028", "zorb-e0002-s000056"):
        shutil.copy(first, root / "output" / f"{name}.safetensors")
    return root


def _scroll_area(w: QWidget) -> QAbstractScrollArea | None:
    """The scroll area whose viewport ``w`` lies in: it may be scrolled out of sight there, rightly."""
    p = w.parentWidget()
    while p is not None:
        if isinstance(p.parentWidget(), QAbstractScrollArea) and p is p.parentWidget().viewport():
            return p.parentWidget()
        p = p.parentWidget()
    return None


def clipped(root: QWidget) -> list[str]:
    problems = []
    for w in root.findChildren(QWidget):
        if not w.isVisible() or w.isWindow():
            continue
        text = w.text() if isinstance(w, (QAbstractButton, QLabel)) else ""
        name = f"{type(w).__name__} '{text[:40] or w.objectName() or w.toolTip()[:40]}'"
        parent = w.parentWidget()
        scroll = _scroll_area(w)
        if parent is not None and scroll is not None and not isinstance(w.parentWidget(), QAbstractScrollArea):
            # in a scroll area that never scrolls sideways, nothing may stick out on the right
            if scroll.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff:
                right = w.mapTo(scroll.viewport(), w.rect().topRight()).x()
                if right > scroll.viewport().width() + 1:
                    problems.append(f"{name} sticks out of its sideways-fixed scroll area by {right - scroll.viewport().width()} px")
        elif parent is not None:
            inside = parent.rect().adjusted(-1, -1, 1, 1)
            if not inside.contains(w.geometry()):
                problems.append(
                    f"{name} at {_r(w.geometry())} outside its parent {type(parent).__name__} {_r(parent.rect())}"
                )
        if isinstance(w, QAbstractButton) and w.text().strip():
            # a button of a fixed width (a "…" browse button) is narrower than the style's usual
            # minimum on purpose: there its text itself must fit
            fixed = w.minimumWidth() == w.maximumWidth()
            need = w.fontMetrics().horizontalAdvance(w.text().replace("&", "")) + 4 if fixed else w.sizeHint().width()
            if w.width() < need - 1:
                problems.append(f"{name}: {w.width()} px wide, its text needs {need}")
        elif (
            isinstance(w, QLabel)
            and w.text().strip()
            and not w.wordWrap()
            and w.sizePolicy().horizontalPolicy() != QSizePolicy.Policy.Ignored
            and w.pixmap().isNull()
        ):
            if w.width() < w.minimumSizeHint().width() - 1:
                problems.append(f"{name}: {w.width()} px wide, its text needs {w.minimumSizeHint().width()}")
    return problems


def _r(r: QRect) -> str:
    return f"{r.x()},{r.y()} {r.width()}×{r.height()}"


def settle(qtbot, widget: QWidget) -> None:
    """Let queued layout passes run: a busy machine can leave a bar laid out for the width the
    window had a moment ago. Waits (at most 3 s) until nothing is clipped, then the
    test looks (and fails if something still sticks out)."""
    try:
        qtbot.waitUntil(lambda: not clipped(widget), timeout=3000)
    except Exception:  # noqa: BLE001 - pytest-qt's TimeoutError: the assertion below reports it
        pass


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_tab_fits(window, qtbot, demo_dir, tmp_path, monkeypatch, size):
    from lora_studio.app.panels.dataset import thumbnail_loader

    monkeypatch.setattr(thumbnail_loader, "default_cache_dir", lambda: tmp_path / "thumbs")
    project = Path(shutil.copytree(demo_dir, tmp_path / "Demo project"))

    assert window.projects.open_path(project)
    qtbot.waitUntil(lambda: not window.context.jobs.running(), timeout=30000)
    qtbot.waitUntil(lambda: window.generation_panel.mixer.row("zorb") is not None, timeout=30000)
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size)
    problems = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        tab = window.tabs.widget(index)
        settle(qtbot, tab)
        problems += [f"{window.tabs.tabText(index)}: {p}" for p in clipped(tab)]
        for inner in tab.findChildren(QTabWidget):  # the editors' tabs, Basic/Advanced …
            for page in range(inner.count()):
                if inner.isVisible() and inner.isTabEnabled(page):
                    inner.setCurrentIndex(page)
                    settle(qtbot, inner.widget(page))
                    where = f"{window.tabs.tabText(index)} > {inner.tabText(page)}"
                    problems += [f"{where}: {p}" for p in clipped(inner.widget(page))]
    problems += [f"window: {p}" for p in clipped(window) if "tabs" not in p]
    assert not problems, "\n".join(dict.fromkeys(problems))


def test_first_start_size_fits_a_small_screen():
    from PySide6.QtCore import QSize

    from lora_studio.app.main_window import DEFAULT_SIZE, default_size

    assert default_size(QSize(1280, 720)) == (1280, 720)  # the walk in Xvfb found the bottom cut off
    assert default_size(QSize(1920, 1080)) == DEFAULT_SIZE
    assert default_size(None) == DEFAULT_SIZE
