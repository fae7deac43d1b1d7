"""Issue 16: "Sort: Name" sorts the pictures shown by file name, also after one moved to another
concept; "Sort: Concept, then name" groups them by concept."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel

from .test_picture_moves import add_concept, select, settled


def shown(panel: DatasetPanel) -> list[str]:
    return [row.name for row in panel.grid.proxy.source_rows()]


def choose(combo, text: str, qtbot) -> None:
    """Pick an entry the way a person does: open the list, click the entry."""
    combo.showPopup()
    view = combo.view()
    index = combo.model().index(combo.findText(text), 0)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    assert combo.currentText() == text


def test_sort_by_name_is_by_file_name_after_a_move(panel: DatasetPanel, qtbot):
    add_concept(panel, qtbot, "dog")
    panel.concepts.select(None)
    names = shown(panel)
    assert panel.grid.sort_combo.currentText() == "Sort: Name"
    first = names[0]
    select(panel, [0])
    panel.grid.move_menu.actions()[0].trigger()  # the first picture goes to "dog"
    settled(panel, qtbot, {"dog": "1 × 1"})
    panel.concepts.select(None)
    assert shown(panel) == names  # still in file-name order: the moved one did not go to the end
    assert next(r for r in panel.grid.proxy.source_rows() if r.name == first).concept == "dog"

    choose(panel.grid.sort_combo, "Sort: Concept, then name", qtbot)
    rows = panel.grid.proxy.source_rows()
    assert [r.concept for r in rows] == sorted(r.concept for r in rows)
    assert rows[0].name == first  # "dog" comes before "zorb"
    choose(panel.grid.sort_combo, "Sort: Name", qtbot)
    assert shown(panel) == names
