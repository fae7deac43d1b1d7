"""The copy-or-link choice for added pictures is remembered in the app settings."""

from __future__ import annotations

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.core.settings import load_settings

from .conftest import make_picture


def test_link_choice_is_saved_and_used_by_the_next_panel(panel: DatasetPanel, context, settings_file, qtbot, tmp_path):
    assert panel.copy_action.isChecked() and panel.state.copy_into_project
    panel.link_action.trigger()
    assert not panel.state.copy_into_project
    assert load_settings(settings_file).copy_images_on_import is False

    again = DatasetPanel(context)  # e.g. the next start of the app
    qtbot.addWidget(again)
    assert again.link_action.isChecked() and not again.state.copy_into_project

    outside = make_picture(tmp_path / "elsewhere" / "linked one.png", 7)
    panel.concepts.select("zorb")
    panel.imports.import_files([outside], "zorb")
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 4, timeout=10000)
    assert not (panel.project.concept_dir("zorb") / "linked one.png").exists()  # linked, not copied
    assert str(outside.resolve()) in panel.project.image_keys("zorb")

    panel.copy_action.trigger()
    assert load_settings(settings_file).copy_images_on_import is True
