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
