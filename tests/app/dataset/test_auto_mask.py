"""The "Auto-mask…" button in the Mask tab: the dialog previews a mask, makes masks for a concept in
a worker (a tiny ONNX background remover built in the test), keeps a hand-painted mask unless asked,
and "Undo auto-mask" puts the previous masks back. The pictures themselves never change."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from lora_studio.app.dialogs.models_dialog import ModelsDialog
from lora_studio.app.panels.dataset.auto_mask_dialog import AutoMaskDialog
from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from tests.captioning.tiny_vlm import build_bg_remover


@pytest.fixture
def models_root(tmp_path):
    root = tmp_path / "captioners"
    build_bg_remover(root / "anime-seg", size=32)
    return root


def digests(panel):
    return {r.path: hashlib.sha256(r.path.read_bytes()).hexdigest() for r in panel.model.rows()}


def open_dialog(panel: DatasetPanel, context, qtbot, root) -> AutoMaskDialog:
    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(root),)))
    panel.editors.setCurrentWidget(panel.mask_painter)
    qtbot.mouseClick(panel.automasks.button, Qt.MouseButton.LeftButton)
    dialog = panel.automasks.dialog
    assert isinstance(dialog, AutoMaskDialog)
    qtbot.addWidget(dialog)
    return dialog


def test_no_model_says_what_to_put_where(panel, qtbot, context, tmp_path):
    dialog = open_dialog(panel, context, qtbot, tmp_path / "empty")
    assert dialog.model.count() == 0 and not dialog.start_button.isEnabled()
    assert "CIDAS/clipseg-rd64-refined" in dialog.missing.text() and "isnetis.onnx" in dialog.missing.text()
    assert "No auto-mask model yet" in dialog.start_button.toolTip()
    qtbot.mouseClick(dialog.get_models_button, Qt.MouseButton.LeftButton)
    models = panel.window().findChild(ModelsDialog, "modelsDialog")
    assert models is not None and models.isVisible()  # opened at the mask models
    assert any(r.model.kind == "clipseg" for r in models.rows.values())
    models.close()
    dialog.close()


def test_preview_make_masks_keep_hand_painted_and_undo(
    panel: DatasetPanel, qtbot, context, models_root, no_dialogs
):
    rows = panel.model.rows()
    hand = Image.new("L", (320, 240), 255)
    hand.paste(0, (0, 0, 40, 240))
    panel.masks.set_mask(rows[1], hand)  # as the mask painter saves one
    pictures = digests(panel)
    panel.concepts.select("zorb")
    panel.grid.select_path(rows[0].path)
    dialog = open_dialog(panel, context, qtbot, models_root)
    assert dialog.model.currentText().startswith("anime-seg")
    assert not dialog.prompt.isEnabled()  # a background remover takes no prompt
    assert dialog.selected_scope().key == "concept"
    assert "(1 of these pictures have one)" in dialog.replace.text()

    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.run.running, timeout=30000)
    assert dialog.preview_image.pixmap() is not None and not dialog.preview_image.pixmap().isNull()
    assert "of the picture is learned" in dialog.status.text()
    assert panel.model.rows()[0].mask is None  # a preview writes nothing

    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.run.running, timeout=30000)
    assert not no_dialogs, no_dialogs
    assert "Made 2 of 3 masks" in dialog.status.text() and "kept their mask" in dialog.status.text()
    after = {r.path.name: r for r in panel.model.rows()}
    first = np.asarray(Image.open(after[rows[0].name].mask))
    assert first.shape == (240, 320) and first[120, 160] == 255 and first[5, 5] == 0  # subject learned
    assert np.asarray(Image.open(after[rows[1].name].mask))[120, 20] == 0  # the hand-painted mask stays
    assert digests(panel) == pictures  # the pictures themselves are never changed
    assert "(3 of these pictures have one)" in dialog.replace.text()
    assert not dialog.start_button.isEnabled()  # all have masks: replacing needs the box ticked

    assert dialog.undo_button.isEnabled()
    qtbot.mouseClick(dialog.undo_button, Qt.MouseButton.LeftButton)
    restored = {r.path.name: r for r in panel.model.rows()}
    assert restored[rows[0].name].mask is None and restored[rows[2].name].mask is None
    assert np.asarray(Image.open(restored[rows[1].name].mask))[120, 20] == 0
    assert not dialog.undo_button.isEnabled()
    dialog.close()
