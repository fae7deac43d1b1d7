"""The Dataset panel driven for real: a project in tmp_path, real files, simulated input."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from lora_studio.app.panels.dataset import dataset_panel as panel_module
from lora_studio.app.panels.dataset import thumbnail_loader
from lora_studio.app.panels.dataset.dataset_panel import TAB_CROP, TAB_MASK, DatasetPanel
from lora_studio.app.panels.dataset.image_list_model import Role
from lora_studio.app.panels.dataset.tag_tools_widget import BulkRequest, Operation, Scope
from lora_studio.dataset import captions as cap
from lora_studio.dataset.validate import Severity

from .conftest import make_picture, select_first


def drop(widget, pos: QPoint, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_drop_files_onto_a_concept_copies_them(panel: DatasetPanel, qtbot, tmp_path):
    new = [make_picture(tmp_path / "more" / f"new {i} ü.jpg", 10 + i) for i in range(2)]
    view = panel.concepts.list
    item = panel.concepts.item_for("zorb")
    drop(view.viewport(), view.visualItemRect(item).center(), new)
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 5, timeout=10000)
    folder = panel.project.concept_dir("zorb")
    assert (folder / "new 0 ü.jpg").is_file() and (folder / "new 1 ü.jpg").is_file()
    assert all(p.is_file() for p in new)  # originals untouched
    assert "Added 2 pictures" in panel.job_label.text()


def test_drop_a_folder_on_the_panel_makes_a_concept(panel: DatasetPanel, qtbot, tmp_path):
    folder = tmp_path / "Style refs"
    make_picture(folder / "a.png", 3)
    panel.concepts.select(None)  # "All pictures": no concept to drop into
    drop(panel, QPoint(600, 400), [folder])
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 4, timeout=10000)
    assert "Style refs" in [c.name for c in panel.project.concepts]
    assert (panel.project.concept_dir("Style refs") / "a.png").is_file()


def test_step_maths_follow_repeats(panel: DatasetPanel, qtbot):
    qtbot.waitUntil(lambda: "3 pictures × 10 repeats = 30" in panel.concepts.steps_label.text(), timeout=5000)
    panel.concepts.select("zorb")
    panel.concepts.repeats.setValue(5)
    assert panel.project.concept("zorb").repeats == 5
    # 3 × 5 = 15 ÷ batch size 2 = 8 steps, × 10 epochs: the Training tab's settings for a new project
    qtbot.waitUntil(lambda: "10 epochs × 8 steps = 80 steps" in panel.concepts.steps_label.text(), timeout=5000)


def test_drag_a_crop_and_nudge_it(panel: DatasetPanel, qtbot):
    select_first(panel, qtbot)
    panel.editors.setCurrentIndex(TAB_CROP)
    canvas = panel.crop_editor.canvas
    qtbot.waitUntil(canvas.has_image, timeout=5000)
    row = panel.grid.current_row()
    start = canvas.to_widget(QPointF(40, 30)).toPoint()
    end = canvas.to_widget(QPointF(200, 190)).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    qtbot.waitUntil(lambda: panel.project.record("zorb", row.key).crop is not None, timeout=3000)
    crop = panel.project.record("zorb", row.key).crop
    assert abs(crop.x - 40) <= 2 and abs(crop.width - 160) <= 3
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: panel.project.record("zorb", row.key).crop.x == crop.x + 10, timeout=3000)
    assert "trained at" in panel.crop_editor.info.text()
    assert panel.model.row_at(0).crop == panel.project.record("zorb", row.key).crop


def test_batch_centre_crop_and_upscale_warning(panel: DatasetPanel, qtbot):
    panel.grid.view.selectAll()
    panel.crop_editor.set_preset("Square, for 512 training (SD 1.5)")
    panel.crop_editor.batch_centre.click()
    for row in panel.model.rows():
        crop = panel.project.record("zorb", row.key).crop
        assert crop is not None and crop.width == crop.height == 240
    select_first(panel, qtbot)
    assert "enlarged" in panel.crop_editor.warning.text()  # 240 px enlarged to 512


def test_paint_a_mask(panel: DatasetPanel, qtbot):
    select_first(panel, qtbot)
    panel.editors.setCurrentIndex(TAB_MASK)
    canvas = panel.mask_painter.canvas
    qtbot.waitUntil(canvas.has_image, timeout=5000)
    row = panel.grid.current_row()
    panel.mask_painter.size.setValue(30)
    a, b = canvas.widget_point(60, 60), canvas.widget_point(220, 80)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(canvas, canvas.widget_point(140, 70))
    qtbot.mouseMove(canvas, b)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=b)
    panel.mask_painter.flush()
    record = panel.project.record("zorb", row.key)
    assert record.mask is not None
    mask = Image.open(panel.project.concept_dir("zorb") / record.mask)
    assert mask.size == (320, 240) and mask.mode == "L"
    assert mask.getpixel((140, 70)) < 30 and mask.getpixel((10, 200)) == 255  # painted = ignored
    assert panel.mask_painter.undo()  # undo the stroke, then clear: no mask any more
    panel.mask_painter.canvas.clear()
    panel.mask_painter.flush()
    assert panel.project.record("zorb", row.key).mask is None


def test_edit_tags_as_chips_and_text(panel: DatasetPanel, qtbot):
    select_first(panel, qtbot)
    editor = panel.caption_editor
    row = editor.row
    editor.tag_input.setText("orange, happy")
    qtbot.keyClick(editor.tag_input, Qt.Key.Key_Return)
    assert cap.read_caption(row.caption_path).text == "zorb, smiling, blue background, orange, happy"
    editor.chips.move_tag(4, 1)  # what dragging a chip does
    assert cap.read_caption(row.caption_path).text.startswith("zorb, happy, smiling")
    editor.chips.remove_tags([0])
    assert editor.text.toPlainText() == "happy, smiling, blue background, orange"
    editor.text.setPlainText("one, two")
    assert editor.chips.tags() == ["one", "two"]
    editor.commit()
    assert cap.read_caption(row.caption_path).text == "one, two"
    panel.captions.undo()
    assert cap.read_caption(row.caption_path).text == "happy, smiling, blue background, orange"
    assert editor.chips.tags()[0] == "happy"
    # Autocomplete offers the dataset's own tags, most used first.
    qtbot.waitUntil(lambda: editor._completion_model.stringList()[:1] == ["zorb"])


def test_bulk_replace_then_undo_and_redo(panel: DatasetPanel, qtbot):
    paths = [r.caption_path for r in panel.model.rows()]
    before = [p.read_bytes() for p in paths]
    panel.captions.run_bulk(BulkRequest(Operation.REPLACE, Scope.ALL, "smiling", "grinning"))
    after = [p.read_text(encoding="utf-8") for p in paths]
    assert after.count("zorb, grinning, blue background") == 1 and "smiling" not in "".join(after)
    assert "Changed 2 of 3" in panel.tag_tools.result.text()
    assert any("grinning" in r.caption for r in panel.model.rows())
    panel.captions.undo()
    assert [p.read_bytes() for p in paths] == before
    panel.captions.redo()
    assert "grinning" in paths[0].read_text(encoding="utf-8")


def test_tag_frequency_click_filters_the_grid(panel: DatasetPanel, qtbot):
    tags = dict(panel.tag_tools.tags())
    assert tags["zorb"] == 3 and tags["smiling"] == 2
    panel.tag_tools.tag_clicked.emit("smiling")
    assert panel.grid.proxy.rowCount() == 2
    panel.grid.set_tag_filter("")
    assert panel.grid.proxy.rowCount() == 3


def test_thumbnails_never_decode_on_the_gui_thread(panel: DatasetPanel, qtbot, monkeypatch, tmp_path):
    threads: list[str] = []
    real = thumbnail_loader.load_rgb

    def slow_load(*args, **kwargs):
        threads.append(threading.current_thread().name)
        time.sleep(0.2)  # a slow decode must not slow data()
        return real(*args, **kwargs)

    # Let the thumbnails the panel asked for when it opened finish first (they use the old cache).
    qtbot.waitUntil(lambda: panel.loader.pending() == 0, timeout=10000)
    panel.loader.wait(10000)
    monkeypatch.setattr(thumbnail_loader, "load_rgb", slow_load)
    panel.loader.cache_dir = tmp_path / "fresh-cache"
    panel.model._thumbs.clear()
    panel.model._thumb_errors.clear()
    start = time.perf_counter()
    results = [panel.model.data(panel.model.index(i), Role.THUMB) for i in range(3)]
    assert time.perf_counter() - start < 0.05
    assert results == [None, None, None]
    qtbot.waitUntil(lambda: panel.model.thumbnail_count() == 3, timeout=10000)
    assert threads and "MainThread" not in threads
    # cached on disk (written by the worker, possibly just after the thumbnail reached the model)
    qtbot.waitUntil(lambda: len(list((tmp_path / "fresh-cache").glob("*.jpg"))) == 3, timeout=10000)


def test_check_lists_a_broken_picture_and_fixes_an_encoding(panel: DatasetPanel, qtbot):
    folder = panel.project.concept_dir("zorb")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    latin = panel.model.row_at(1).caption_path
    latin.write_bytes("zorb, caf\xe9".encode("cp1252"))
    panel.rescan()
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 4, timeout=10000)
    assert panel.checks.run_check()
    qtbot.waitUntil(lambda: not panel.busy, timeout=20000)
    broken = [i for i in panel.check.issues if i.path == folder / "broken.jpg"]
    assert broken and broken[0].severity == Severity.ERROR
    assert panel.check.tree.topLevelItemCount() >= 2
    encoding = next(i for i in panel.check.issues if i.path == latin and i.fix is not None)
    panel.checks.apply_fix(encoding)
    assert latin.read_text(encoding="utf-8") == "zorb, café"


def test_send_to_dataset_api(panel: DatasetPanel, qtbot, tmp_path):
    generated = make_picture(tmp_path / "generated.png", 7)
    dest = panel.imports.add_image_to_concept(generated, "From generation", "zorb, on the moon")
    assert dest.is_file() and cap.read_caption(dest.with_suffix(".txt")).text == "zorb, on the moon"
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 4, timeout=10000)


def test_panel_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, lora_studio.app.panels.dataset.dataset_panel; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert panel_module.DatasetPanel.title == "Dataset"



def test_hide_all_invert_and_clear_buttons(panel: DatasetPanel, qtbot):
    from lora_studio.app.widgets.mask_canvas import layer_alpha

    select_first(panel, qtbot)
    panel.editors.setCurrentIndex(TAB_MASK)
    painter = panel.mask_painter
    canvas = painter.canvas
    qtbot.waitUntil(canvas.has_image, timeout=5000)

    def hidden() -> float:
        return float((layer_alpha(canvas.layer) >= 128).mean())

    qtbot.mouseClick(painter.hide_all_button, Qt.MouseButton.LeftButton)
    assert hidden() == 1.0
    qtbot.mouseClick(painter.invert_button, Qt.MouseButton.LeftButton)
    assert hidden() == 0.0
    qtbot.mouseClick(painter.hide_all_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(painter.clear_button, Qt.MouseButton.LeftButton)
    assert hidden() == 0.0
    assert painter.undo() and hidden() == 1.0  # Clear is undone: all hidden again
