"""Issue 16 item 2: managing pictures after import, through the real widgets — "Move to ▸" / "Copy
to ▸" in the grid's context menu, dragging pictures from the grid onto a concept, Undo (Edit menu
action and Ctrl+Z) for moves, copies, removals and imports, and the "which concept?" question when
pictures are added to a project with several concepts."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPointF, Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.dataset import captions as cap

from .conftest import make_picture


def add_concept(panel: DatasetPanel, qtbot, name: str) -> None:
    qtbot.mouseClick(panel.concepts.add_button, Qt.MouseButton.LeftButton)
    item = panel.concepts.item_for("New concept")
    panel.concepts.list.closePersistentEditor(item)
    item.setText(name)  # what typing the name over "New concept" does
    assert name in [c.name for c in panel.project.concepts]
    assert "New concept" not in panel.concepts.steps_label.text()  # the step maths use the new name


def counts(panel: DatasetPanel) -> dict[str, str]:
    from lora_studio.app.panels.dataset.concept_list_widget import COUNT_ROLE

    lst = panel.concepts.list
    return {lst.item(i).text(): lst.item(i).data(COUNT_ROLE) for i in range(lst.count())}


def select(panel: DatasetPanel, rows: list[int]) -> None:
    view, proxy = panel.grid.view, panel.grid.proxy
    view.selectionModel().clearSelection()
    for r in rows:
        view.selectionModel().select(proxy.index(r, 0), QItemSelectionModel.SelectionFlag.Select)
    view.selectionModel().setCurrentIndex(proxy.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate)


def settled(panel: DatasetPanel, qtbot, expected: dict[str, str]) -> None:
    qtbot.waitUntil(lambda: not panel.busy and all(counts(panel).get(k) == v for k, v in expected.items()), timeout=10000)


def test_move_to_menu_moves_a_picture_and_undo_puts_it_back(panel: DatasetPanel, qtbot):
    add_concept(panel, qtbot, "dog")
    panel.concepts.select(None)
    select(panel, [0])
    row = panel.grid.selected_rows()[0]
    dog = panel.project.concept_dir("dog")
    assert panel.grid.move_action in panel.grid.view.actions()  # in the right-click menu
    targets = [a.text() for a in panel.grid.move_menu.actions()]
    assert targets == ["dog"]  # not the concept it is already in
    panel.grid.move_menu.actions()[0].trigger()
    settled(panel, qtbot, {"zorb": "2 × 10", "dog": "1 × 1"})
    assert (dog / row.path.name).is_file() and not row.path.exists()
    assert cap.read_caption(dog / row.caption_path.name).text == "zorb, smiling, blue background"
    assert "Moved 1 picture to “dog”" in panel.job_label.text()
    # the editors follow the picture to its new place (no stale "concept zorb" caption editor)
    qtbot.waitUntil(lambda: panel.caption_editor.row is not None and panel.caption_editor.row.concept == "dog")
    assert panel.caption_editor.row.path == dog / row.path.name
    qtbot.waitUntil(lambda: not panel.caption_editor.preview.pixmap().isNull(), timeout=5000)  # its picture too
    assert panel.undo_action.text() == "Undo Move 1 picture to “dog”"
    assert panel.undo_action.isEnabled()

    panel.undo_action.trigger()  # Edit ▸ Undo
    settled(panel, qtbot, {"zorb": "3 × 10", "dog": "0 × 1"})
    assert row.path.is_file() and not (dog / row.path.name).exists()
    shown = panel.caption_editor.row
    assert shown is None or shown.path.exists()  # never a picture that is not there any more
    assert "Undone: Move 1 picture" in panel.job_label.text()
    panel.redo_action.trigger()
    settled(panel, qtbot, {"zorb": "2 × 10", "dog": "1 × 1"})


def test_copy_to_menu_keeps_the_original(panel: DatasetPanel, qtbot):
    add_concept(panel, qtbot, "dog")
    panel.concepts.select(None)
    select(panel, [0, 1])
    rows = panel.grid.selected_rows()
    [copy_to_dog] = panel.grid.copy_menu.actions()
    copy_to_dog.trigger()
    settled(panel, qtbot, {"zorb": "3 × 10", "dog": "2 × 1"})
    assert all(r.path.is_file() for r in rows)
    assert panel.model.rowCount() == 5


def drag_onto(panel: DatasetPanel, concept: str, modifiers=Qt.KeyboardModifier.NoModifier) -> QDropEvent:
    """What dragging the selected thumbnails onto a concept does: the grid's own drag data, dropped."""
    view = panel.grid.view
    mime = view.model().mimeData(view.selectionModel().selectedIndexes())
    target = panel.concepts.list
    pos = target.visualItemRect(panel.concepts.item_for(concept)).center()
    actions = Qt.DropAction.MoveAction | Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, actions, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(target.viewport(), enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, actions, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(target.viewport(), move)
    assert move.isAccepted()
    drop = QDropEvent(QPointF(pos), actions, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(target.viewport(), drop)
    return drop


def test_drag_pictures_onto_a_concept_moves_them_ctrl_copies(panel: DatasetPanel, qtbot):
    add_concept(panel, qtbot, "dog")
    panel.concepts.select(None)
    select(panel, [0])
    moved = panel.grid.selected_rows()[0]
    assert drag_onto(panel, "dog").isAccepted()
    settled(panel, qtbot, {"zorb": "2 × 10", "dog": "1 × 1"})
    assert not moved.path.exists()
    panel.concepts.select(None)
    qtbot.waitUntil(lambda: panel.grid.proxy.rowCount() == 3)
    select(panel, [1])
    copied = panel.grid.selected_rows()[0]
    assert copied.concept == "zorb"
    drag_onto(panel, "dog", Qt.KeyboardModifier.ControlModifier)
    settled(panel, qtbot, {"zorb": "2 × 10", "dog": "2 × 1"})
    assert copied.path.is_file()


def test_ctrl_z_undoes_a_removal(panel: DatasetPanel, qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    select(panel, [0])
    row = panel.grid.selected_rows()[0]
    panel.grid.remove_action.trigger()
    settled(panel, qtbot, {"zorb": "2 × 10"})
    assert not row.path.exists()
    assert "Ctrl+Z puts it back" in panel.job_label.text()
    panel.activateWindow()
    panel.grid.view.setFocus()
    qtbot.keyClick(panel.grid.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settled(panel, qtbot, {"zorb": "3 × 10"})
    assert row.path.is_file() and cap.read_caption(row.caption_path).text


def answer_concept_dialog(panel: DatasetPanel, qtbot, choose: str, seen: list[str], new_name: str = "") -> None:
    """Answer the "which concept?" dialog as a person would, once it is on screen."""

    def answer():
        dialog = panel.imports.choice_dialog
        if dialog is None or not dialog.isVisible():
            QTimer.singleShot(20, answer)
            return
        seen.append(dialog.combo.currentText())
        dialog.combo.setCurrentIndex(dialog.combo.findText(choose))
        if new_name:
            dialog.name.setText(new_name)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, answer)


def test_adding_pictures_with_two_concepts_asks_which_and_remembers(panel: DatasetPanel, qtbot, tmp_path, monkeypatch):
    add_concept(panel, qtbot, "dog")
    panel.concepts.select("zorb")
    files = [make_picture(tmp_path / "in" / "a.png", 21), make_picture(tmp_path / "in" / "b.png", 22)]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(files[0])], ""))
    seen: list[str] = []
    answer_concept_dialog(panel, qtbot, "dog", seen)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    settled(panel, qtbot, {"zorb": "3 × 10", "dog": "1 × 1"})
    assert seen == ["zorb"]  # first time: the selected concept is offered
    assert (panel.project.concept_dir("dog") / "a.png").is_file()
    assert files[0].is_file()  # the original stays

    # next time the last answer is offered first, even with another concept selected
    panel.concepts.select("zorb")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(files[1])], ""))
    answer_concept_dialog(panel, qtbot, "New concept…", seen, new_name="cat")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    settled(panel, qtbot, {"cat": "1 × 1"})
    assert seen == ["zorb", "dog"]
    assert (panel.project.concept_dir("cat") / "b.png").is_file()

    # the import is undone like any other change
    assert panel.undo_action.text() == "Undo Add 1 picture to “cat”"
    panel.undo_action.trigger()
    settled(panel, qtbot, {"cat": "0 × 1"})
    assert not (panel.project.concept_dir("cat") / "b.png").exists() and files[1].is_file()


def test_cancelling_the_question_adds_nothing(panel: DatasetPanel, qtbot, tmp_path):
    add_concept(panel, qtbot, "dog")
    new = make_picture(tmp_path / "in" / "c.png", 23)

    def cancel():
        dialog = panel.imports.choice_dialog
        if dialog is None or not dialog.isVisible():
            QTimer.singleShot(20, cancel)
            return
        dialog.reject()

    QTimer.singleShot(0, cancel)
    assert not panel.imports.import_files([new], None, ask=True)
    assert panel.model.rowCount() == 3 and [c.name for c in panel.project.concepts] == ["zorb", "dog"]



def test_files_dropped_on_the_panel_with_two_concepts_ask_which(panel: DatasetPanel, qtbot, tmp_path):
    from PySide6.QtCore import QPoint

    from .test_dataset_panel import drop

    add_concept(panel, qtbot, "dog")
    panel.concepts.select(None)  # "All pictures": no concept chosen
    new = make_picture(tmp_path / "in" / "d.png", 24)
    seen: list[str] = []
    answer_concept_dialog(panel, qtbot, "dog", seen)
    drop(panel, QPoint(600, 400), [new])
    settled(panel, qtbot, {"dog": "1 × 1"})
    assert seen == ["zorb"]  # files and no concept chosen: the first concept is offered
    assert (panel.project.concept_dir("dog") / "d.png").is_file()
