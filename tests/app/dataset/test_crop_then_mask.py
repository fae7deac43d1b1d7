"""Found in the real-window walk (issue 16): a crop made, then a mask painted on the same picture —
the grid lost the crop (its thumbnail and the crop editor showed none until the project was read
again), because the mask was stored on the painter's older copy of the picture's row."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lora_studio.app.panels.dataset.dataset_panel import TAB_CROP, TAB_MASK, DatasetPanel

from .conftest import select_first


def test_a_mask_painted_after_a_crop_keeps_the_crop(panel: DatasetPanel, qtbot):
    select_first(panel, qtbot)
    panel.editors.setCurrentIndex(TAB_CROP)
    qtbot.waitUntil(panel.crop_editor.canvas.has_image, timeout=5000)
    panel.crop_editor.set_preset("Square, for 512 training (SD 1.5)")
    qtbot.mouseClick(panel.crop_editor.centre_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.model.row_at(0).crop is not None)
    panel.editors.setCurrentIndex(TAB_MASK)
    canvas = panel.mask_painter.canvas
    qtbot.waitUntil(canvas.has_image, timeout=5000)
    a, b = canvas.widget_point(60, 60), canvas.widget_point(200, 80)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(canvas, b)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=b)
    assert "% of the picture hidden" in panel.mask_painter.status.text()
    panel.mask_painter.flush()
    row = panel.model.row_at(0)
    assert row.mask is not None
    assert row.crop is not None and row.crop == panel.project.record("zorb", row.key).crop
    panel.editors.setCurrentIndex(TAB_CROP)
    assert "Crop 240" in panel.crop_editor.info.text()
