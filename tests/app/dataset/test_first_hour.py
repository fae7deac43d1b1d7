"""Issue 16: the Dataset tab as a newcomer meets it, driven through the real widgets."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel


def concept_names(panel: DatasetPanel) -> list[str]:
    lst = panel.concepts.list
    return [lst.item(i).text() for i in range(lst.count())]


def test_new_concept_button_makes_a_concept(panel: DatasetPanel, qtbot):
    qtbot.mouseClick(panel.concepts.add_button, Qt.MouseButton.LeftButton)
    assert "New concept" in concept_names(panel)
    assert (panel.project.root / "concepts").exists() or any(
        c.name == "New concept" for c in panel.project.concepts
    )
    assert panel.concepts.current_concept() == "New concept"
    # a second click numbers the next one instead of failing
    qtbot.mouseClick(panel.concepts.add_button, Qt.MouseButton.LeftButton)
    assert "New concept 2" in concept_names(panel)


def test_check_tab_claims_nothing_before_a_check_and_says_when_it_is_stale(
    panel: DatasetPanel, qtbot, context, tmp_path
):
    from lora_studio.dataset import project as proj

    from .conftest import make_picture

    assert "No problems" not in panel.check.summary.text()  # nothing was checked yet
    qtbot.mouseClick(panel.check.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy and panel.check.checked, timeout=20000)
    checked = panel.check.summary.text()
    assert checked.startswith("No problems found") or checked.startswith("Found")
    # pictures added after the check: the old result is not the truth any more
    panel.imports.import_files([make_picture(tmp_path / "new" / "extra.png", 7)], "zorb")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 4, timeout=20000)
    # the check runs again by itself, and its result names the new picture (it has no caption)
    qtbot.waitUntil(lambda: any("extra" in str(i.path) for i in panel.check.issues), timeout=20000)
    qtbot.waitUntil(lambda: not panel.busy, timeout=20000)
    assert "changed since the last check" not in panel.check.summary.text()
    assert panel.check.summary.text().startswith("Found")
    # another, empty project: no claim about it until it is checked, and then the truth
    empty = proj.create_project(tmp_path / "Empty", "Empty")
    context.open_project(empty.root)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10000)
    assert "No problems" not in panel.check.summary.text()
    qtbot.mouseClick(panel.check.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy and panel.check.checked, timeout=20000)
    assert not panel.check.summary.text().startswith("No problems found")  # an empty project isn't ready
    assert panel.check.issues or panel.check.summary.text().startswith("There are no pictures")


def test_first_screen_has_no_under_construction_note(qtbot, context):
    from PySide6.QtWidgets import QLabel

    widget = DatasetPanel(context)
    qtbot.addWidget(widget)
    texts = " ".join(label.text() for label in widget.findChildren(QLabel))
    assert "still being built" not in texts
    assert widget.empty.new_button.isVisibleTo(widget)


def test_delete_key_removes_a_picture_after_asking_and_keeps_the_original(
    panel: DatasetPanel, qtbot, monkeypatch, source_folder
):
    from PySide6.QtWidgets import QMessageBox

    originals = {p: p.read_bytes() for p in source_folder.iterdir()}
    grid = panel.grid
    assert not grid.remove_action.isEnabled()  # nothing selected yet
    assert grid.view.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    assert grid.remove_action in grid.view.actions()  # what a right-click shows
    first = panel.model.row_at(0)
    assert grid.select_path(first.path)
    assert grid.remove_action.isEnabled()
    asked = []
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    grid.view.setFocus()
    qtbot.keyClick(grid.view, Qt.Key.Key_Delete)  # answered No: nothing changes
    assert len(asked) == 1 and first.path.name in asked[0] and "original" in asked[0]
    assert panel.model.rowCount() == 3 and first.path.exists()
    qtbot.keyClick(grid.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 2, timeout=10000)
    assert first.path not in {r.path for r in panel.model.rows()}
    assert not first.path.exists()  # the project's copy went to .trash
    assert any(p.name == first.path.name for p in (panel.project.root / ".trash").rglob("*"))
    assert "Removed 1 picture" in panel.job_label.text()
    assert {p: p.read_bytes() for p in source_folder.iterdir()} == originals  # originals untouched
    assert "2" in panel.grid.count_label.text()


def test_auto_caption_start_says_why_it_is_disabled(panel: DatasetPanel, qtbot, context, tmp_path):
    import dataclasses

    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(tmp_path / "none"),)))
    qtbot.mouseClick(panel.autocaption_button, Qt.MouseButton.LeftButton)
    dialog = panel.captions.autocaption
    assert dialog is not None and dialog.isVisible()
    assert not dialog.start_button.isEnabled()
    assert "No captioning model yet" in dialog.start_button.toolTip()
    assert "No captioning model yet" in dialog.status.text()
    dialog.close()


def test_add_pictures_says_which_concept_they_go_to(panel: DatasetPanel, qtbot, tmp_path):
    from .conftest import make_picture

    lst = panel.concepts.list
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(lst.item(0)).center())
    assert "new concept" in panel.add_button.toolTip()  # "All pictures": a new concept is made
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(lst.item(1)).center())
    assert panel.concepts.current_concept() == "zorb"
    assert "“zorb”" in panel.add_button.toolTip()
    panel.imports.import_files([make_picture(tmp_path / "more" / "one.png", 3)], "zorb")
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 4, timeout=20000)
    assert panel.job_label.text().startswith("Added 1 picture to “zorb”")
