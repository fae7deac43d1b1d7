"""The Generation panel's embedding list and Hires fix group, pressed for real on the tiny model."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QStyleOptionGroupBox

from lora_studio.formats.infotext import parse_infotext, read_png_parameters
from tests.app.generation.conftest import set_small
from tests.generation.test_embeddings import write_embedding


def _click_group_checkbox(qtbot, box) -> None:
    opt = QStyleOptionGroupBox()
    box.initStyleOption(opt)
    rect = box.style().subControlRect(
        QStyle.ComplexControl.CC_GroupBox, opt, QStyle.SubControl.SC_GroupBoxCheckBox, box
    )
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=rect.center())


def test_embedding_list_and_hires_fix_reach_the_picture(qtbot, panel, data_home):
    folder = data_home / "models" / "embeddings"
    made = [write_embedding(folder / "EasyNegative.safetensors", seed=5)]
    (folder / "old.pt").write_bytes(b"never unpickled")
    made.append(folder / "old.pt")
    try:
        embeddings = panel.embeddings
        assert not embeddings.negative_button.isEnabled()  # nothing chosen yet
        qtbot.mouseClick(embeddings.refresh_button, Qt.MouseButton.LeftButton)
        assert embeddings.heading.text() == "Embeddings (2)"
        assert embeddings.found.isVisible() and embeddings.found.text().startswith(
            "Looked again: 2 embeddings in"
        )
        texts = [embeddings.list.item(i).text() for i in range(embeddings.list.count())]
        assert texts == ["EasyNegative  (width 32)", "old  (pickled (not loaded))"]
        row = embeddings.list.item(0)
        qtbot.mouseClick(
            embeddings.list.viewport(),
            Qt.MouseButton.LeftButton,
            pos=embeddings.list.visualItemRect(row).center(),
        )
        assert embeddings.negative_button.isEnabled()
        panel.prompt_editor.negative.setPlainText("blurry")
        qtbot.mouseClick(embeddings.negative_button, Qt.MouseButton.LeftButton)
        assert panel.prompt_editor.negative.text == "blurry, EasyNegative"
        qtbot.mouseClick(embeddings.negative_button, Qt.MouseButton.LeftButton)  # not twice
        assert panel.prompt_editor.negative.text == "blurry, EasyNegative"

        set_small(panel)
        hires = panel.settings_widget.hires
        assert not hires.body.isVisible()  # folded until switched on
        _click_group_checkbox(qtbot, hires)
        assert hires.isChecked() and hires.body.isVisible()
        hires.steps.setValue(2)
        hires.denoise.setValue(0.5)
        hires.upscaler.setCurrentText("Lanczos")
        panel.prompt_editor.prompt.setPlainText("a photo of a cat")
        before = len(panel.gallery.entries)
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not panel.is_generating() and panel.jobs.idle, timeout=120000)
        assert len(panel.gallery.entries) > before, panel.status.text()
        path = panel.gallery.current().path
        with Image.open(path) as im:
            assert im.size == (128, 128)
        info = parse_infotext(read_png_parameters(path))
        assert info.extra["TI hashes"].startswith("EasyNegative: ")
        assert info.extra["Hires upscale"] == "2" and info.extra["Hires upscaler"] == "Lanczos"
        assert info.denoising_strength == 0.5 and (info.width, info.height) == (64, 64)

        # restoring the picture's settings switches the group back on with its values
        _click_group_checkbox(qtbot, hires)
        assert not hires.isChecked()
        panel.gallery_control.restore_from_file(path)
        assert hires.isChecked() and hires.upscaler.currentText() == "Lanczos"
        assert hires.steps.value() == 2 and abs(hires.denoise.value() - 0.5) < 1e-6
    finally:
        for f in made:
            f.unlink(missing_ok=True)
