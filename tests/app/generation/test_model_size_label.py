"""Issue 16: the Size list's "Model's own size" is the model's real size (a folder model's config
says it before loading; a single file's shows once loaded); the first Generate says it loads."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from lora_studio.core.families import ModelFamily
from lora_studio.generation.folder_size import folder_native_size
from lora_studio.generation.model_library import ModelItem


def test_own_size_is_the_models_real_size_and_loading_is_said(qtbot, panel, tmp_path):
    sizes = panel.settings_widget.size_preset
    assert sizes.currentData() == "native"
    assert sizes.itemText(0) == "Model's own size (64×64)"  # the tiny folder model's config: not 512×512
    assert panel.model_picker.status_label.text().startswith("Not loaded yet")

    # a single-file model: its size is not guessed before it is loaded
    folder = panel.model_picker.current()
    single = ModelItem(tmp_path / "some-model.safetensors", ModelFamily.SD1, "folder")
    panel.model_picker.set_models([folder, single], folder.path)
    panel.model_picker.combo.setCurrentIndex(1)  # what choosing it in the list does
    assert sizes.itemText(0) == "Model's own size"
    assert "once the model is loaded" in sizes.itemData(0, Qt.ItemDataRole.ToolTipRole)
    panel.model_picker.combo.setCurrentIndex(0)
    assert sizes.itemText(0) == "Model's own size (64×64)"

    panel.settings_widget.steps.setValue(2)
    panel.settings_widget.seed.setText("7")
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.model_picker.status_label.text().startswith("Loading tiny-sd1…")
    qtbot.waitUntil(lambda: not panel.is_generating() and panel.jobs.idle, timeout=120000)
    assert panel.gallery.entries, panel.status.text()
    assert sizes.itemText(0) == "Model's own size (64×64)"  # what the loaded model reports agrees
    assert sizes.currentData() == "native"
    assert "in memory" in panel.model_picker.status_label.text().lower()


def test_folder_size_from_the_config_files(tmp_path, tiny_sd1_dir):
    assert folder_native_size(tiny_sd1_dir) == 64
    assert folder_native_size(tmp_path) is None  # not a diffusers folder
    flux = tmp_path / "flux"
    (flux / "transformer").mkdir(parents=True)
    (flux / "vae").mkdir()
    (flux / "model_index.json").write_text("{}", encoding="utf-8")
    (flux / "vae" / "config.json").write_text(json.dumps({"sample_size": 1024}), encoding="utf-8")
    assert folder_native_size(flux) == 1024
    (flux / "vae" / "config.json").write_text("not json", encoding="utf-8")
    assert folder_native_size(flux) is None  # a broken config: unknown, never an error
