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
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 4, timeout=20000)
    assert "changed since the last check" in panel.check.summary.text()
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
