"""One caption undo history for the whole app (Edit menu, Ctrl+Z from any tab) and the
``project_modified`` signal that keeps the panels' concepts and step maths in step."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.dataset import edits
from lora_studio.dataset import project as proj


@pytest.fixture
def window_with_project(window, qtbot, context, project, tmp_path, monkeypatch):
    from lora_studio.app.panels.dataset import thumbnail_loader

    monkeypatch.setattr(thumbnail_loader, "default_cache_dir", lambda: tmp_path / "thumbs")
    context._set_project(project, project.root)
    panel = window.dataset_panel
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 3, timeout=10000)
    yield window
    panel.loader.cancel_all()
    panel.loader.wait(5000)


def menu_actions(window, title: str) -> list:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == title)
    return menu.actions()


def test_the_panel_uses_the_app_wide_history(panel: DatasetPanel, context):
    assert panel.history is context.caption_history


def test_edit_menu_undo_works_from_any_tab(window_with_project, qtbot, context):
    window = window_with_project
    panel = window.dataset_panel
    actions = menu_actions(window, "Edit")
    assert actions[0] is panel.undo_action and actions[1] is panel.redo_action
    assert not panel.undo_action.isEnabled()

    row = panel.model.row_at(0)
    before = row.caption_path.read_bytes()
    context.caption_history.push(edits.set_caption_edit(row.caption_path, "changed", "Edit caption of x"))
    assert panel.undo_action.isEnabled() and panel.undo_action.text() == "Undo Edit caption of x"
    qtbot.waitUntil(lambda: panel.model.row_at(0).caption == "changed")

    window.tabs.setCurrentWidget(window.training_panel)  # the shortcut works away from the Dataset tab
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=3000)
    window.tabs.tabBar().setFocus()
    qtbot.keyClick(window.tabs.tabBar(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert row.caption_path.read_bytes() == before
    assert panel.model.row_at(0).caption == before.decode("utf-8").strip()
    assert panel.redo_action.isEnabled()
    qtbot.keyClick(
        window.tabs.tabBar(),
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert row.caption_path.read_text(encoding="utf-8") == "changed"


def test_repeats_changed_elsewhere_refresh_the_panel(panel: DatasetPanel, qtbot, context):
    panel.concepts.select("zorb")
    assert panel.concepts.repeats.value() == 10
    # What the training panel's "Auto steps" does: write repeats, then tell everyone.
    proj.update_concept(panel.project, "zorb", repeats=4)
    with qtbot.waitSignal(context.project_modified, timeout=1000):
        context.notify_project_modified()
    assert panel.concepts.repeats.value() == 4
    qtbot.waitUntil(lambda: "3 pictures × 4 repeats = 12" in panel.concepts.steps_label.text(), timeout=5000)
    assert panel.concepts.item_for("zorb").data(Qt.ItemDataRole.UserRole + 1) == "3 × 4"


def test_the_panel_announces_its_concept_changes(panel: DatasetPanel, qtbot, context):
    panel.concepts.select("zorb")
    with qtbot.waitSignal(context.project_modified, timeout=1000):
        panel.concepts.repeats.setValue(7)
    assert panel.project.concept("zorb").repeats == 7
    with qtbot.waitSignal(context.project_modified, timeout=1000):
        panel.concepts.new_concept("style", edit=False)
    with qtbot.waitSignal(context.project_modified, timeout=1000):
        panel.concepts.rename("style", "styles")
    assert "styles" in [c.name for c in panel.project.concepts]


def test_pictures_added_announce_new_counts(panel: DatasetPanel, qtbot, context, tmp_path):
    from .conftest import make_picture

    new = [make_picture(tmp_path / "more" / f"n{i}.png", 3 + i) for i in range(2)]
    fired = []
    context.project_modified.connect(lambda: fired.append(True))
    assert panel.imports.import_files(new, "zorb")
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 5, timeout=10000)
    assert fired


def test_undo_buttons_stay_short_and_the_tooltip_says_what(window_with_project, qtbot, context):
    from PySide6.QtWidgets import QToolButton

    window = window_with_project
    panel = window.dataset_panel
    button = next(b for b in panel.findChildren(QToolButton) if b.defaultAction() is panel.undo_action)
    redo = next(b for b in panel.findChildren(QToolButton) if b.defaultAction() is panel.redo_action)
    width = button.sizeHint().width()
    row = panel.model.row_at(0)
    before = row.caption_path.read_bytes()
    label = "Edit caption of a-very-long-picture-file-name-from-a-camera-0001.png"
    context.caption_history.push(edits.set_caption_edit(row.caption_path, "changed", label))
    assert button.isEnabled() and button.text() == "Undo"
    assert button.sizeHint().width() == width  # the toolbar doesn't grow with the file name
    assert f"Undo {label}" in button.toolTip()
    assert menu_actions(window, "Edit")[0].text() == f"Undo {label}"  # the Edit menu says it in full
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert row.caption_path.read_bytes() == before
    assert redo.text() == "Redo" and f"Redo {label}" in redo.toolTip()
