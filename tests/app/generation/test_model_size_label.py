"""Issue 16: before a model is loaded the Size list makes no guess; the first Generate says it loads."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_own_size_shows_the_loaded_models_size_and_loading_is_said(qtbot, panel):
    sizes = panel.settings_widget.size_preset
    assert sizes.currentData() == "native"
    assert sizes.itemText(0) == "Model's own size"  # no 512×512 guess for a model that draws 64×64
    assert "once the model is loaded" in sizes.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert panel.model_picker.status_label.text().startswith("Not loaded yet")
    panel.settings_widget.steps.setValue(2)
    panel.settings_widget.seed.setText("7")
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.model_picker.status_label.text().startswith("Loading tiny-sd1…")
    qtbot.waitUntil(lambda: not panel.is_generating() and panel.jobs.idle, timeout=120000)
    assert panel.gallery.entries, panel.status.text()
    assert sizes.itemText(0) == "Model's own size (64×64)"  # what the tiny model really draws
    assert sizes.currentData() == "native"
    assert "in memory" in panel.model_picker.status_label.text().lower()
