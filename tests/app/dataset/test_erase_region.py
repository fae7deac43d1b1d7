"""Erase region in the real Dataset panel: paint over a mark, get a cleaned copy, originals unchanged."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from lora_studio.app.panels.dataset.dataset_panel import TAB_MASK, DatasetPanel
from lora_studio.app.panels.dataset.image_list_model import thumb_key
from lora_studio.app.panels.dataset.mask_painter_widget import ERASE, MASK

from .conftest import select_first


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stroke(qtbot, canvas, points) -> None:
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=canvas.widget_point(*points[0]))
    for p in points[1:]:
        qtbot.mouseMove(canvas, canvas.widget_point(*p))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=canvas.widget_point(*points[-1]))


def test_paint_an_erase_region_and_see_the_cleaned_copy(panel: DatasetPanel, qtbot, source_folder):
    originals = {p: sha(p) for p in source_folder.iterdir()}
    select_first(panel, qtbot)
    row = panel.grid.current_row()
    in_project = sha(row.path)
    panel.editors.setCurrentIndex(TAB_MASK)
    painter = panel.mask_painter
    canvas = painter.canvas
    qtbot.waitUntil(canvas.has_image, timeout=5000)

    painter.erase_mode_button.click()
    assert painter.mode == ERASE and painter.show_result.isVisible()
    painter.size.setValue(200)
    # The test picture has an orange 160×120 ellipse in the middle: paint all of it out.
    stroke(qtbot, canvas, [(158, 120), (160, 120)])
    painter.flush()
    qtbot.waitUntil(lambda: panel.project.record("zorb", row.key).erased is not None, timeout=10000)

    record = panel.project.record("zorb", row.key)
    folder = panel.project.concept_dir("zorb")
    copy = folder / record.erased
    with Image.open(copy) as cleaned, Image.open(row.path) as original:
        c, o = np.asarray(cleaned.convert("RGB"), float), np.asarray(original.convert("RGB"), float)
    assert np.abs(c[120, 160] - o[120, 160]).sum() > 60  # the orange under the stroke is gone
    assert np.abs(c[120, 160] - o[5, 5]).sum() < 40  # filled with the background around it
    assert np.array_equal(c[10:40, 10:40], o[10:40, 10:40])  # far from it nothing changed
    assert (folder / record.erase).is_file() and record.mask is None  # the training mask is separate
    assert sha(row.path) == in_project and {p: sha(p) for p in source_folder.iterdir()} == originals

    shown = panel.model.row_at(panel.model.index_of_path(row.path).row())
    assert shown.erased == copy and thumb_key(shown).path == str(copy)  # the grid shows the copy
    assert "training uses the cleaned copy" in painter.status.text()
    painter.show_result.setChecked(True)
    assert canvas.read_only and canvas.image is painter._result
    painter.show_result.setChecked(False)
    assert not canvas.read_only and canvas.image is painter._original

    # The training mask layer is untouched by erase painting; switching back shows it empty.
    painter.mask_mode_button.click()
    assert painter.mode == MASK and canvas.is_empty()
    painter.erase_mode_button.click()
    assert not canvas.is_empty()

    canvas.clear()  # no region: the original is trained again and the copy goes away
    painter.flush()
    qtbot.waitUntil(lambda: panel.project.record("zorb", row.key).erased is None, timeout=10000)
    assert not copy.exists()
    assert "trained as it is" in panel.job_label.text()


def test_erase_region_survives_reopening_the_picture(panel: DatasetPanel, qtbot):
    select_first(panel, qtbot)
    row = panel.grid.current_row()
    panel.editors.setCurrentIndex(TAB_MASK)
    painter, canvas = panel.mask_painter, panel.mask_painter.canvas
    qtbot.waitUntil(canvas.has_image, timeout=5000)
    painter.set_mode(ERASE)
    stroke(qtbot, canvas, [(40, 200), (90, 200)])
    painter.set_mode(MASK)  # switch before the debounce: the erase layer must still be saved
    stroke(qtbot, canvas, [(250, 30), (300, 30)])
    painter.flush()
    qtbot.waitUntil(lambda: panel.project.record("zorb", row.key).erased is not None, timeout=10000)
    assert panel.project.record("zorb", row.key).mask is not None

    other = panel.model.row_at(1)
    panel.grid.select_path(other.path)
    qtbot.waitUntil(lambda: painter.row is not None and painter.row.path == other.path)
    panel.grid.select_path(row.path)
    qtbot.waitUntil(lambda: painter.row is not None and painter.row.path == row.path and canvas.has_image(), timeout=5000)
    qtbot.waitUntil(lambda: painter._result is not None, timeout=5000)
    painter.set_mode(ERASE)
    alpha = canvas.region_image()
    assert alpha.getpixel((60, 200)) > 200 and alpha.getpixel((280, 30)) == 0
