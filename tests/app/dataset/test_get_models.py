"""The Auto-caption dialog's "Get models…" button: the Models dialog opens, and a model downloaded there
(from a stand-in hub on 127.0.0.1) appears in the Auto-caption list without "Look again"."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt

from lora_studio.app.dialogs.model_row_widget import RowState
from lora_studio.app.dialogs.models_dialog import ModelsDialog
from lora_studio.captioning.catalog import get_model
from tests.captioning.hub_server import serving
from tests.captioning.tiny_models import build_wd14


def test_get_models_button_downloads_into_the_caption_list(panel, qtbot, context, tmp_path, monkeypatch):
    model = get_model("wd-swinv2-tagger-v3")
    with serving({model.repo: build_wd14(tmp_path / "repo")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        root = tmp_path / "captioners"
        context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(root),)))
        dialog = panel.captions.auto_caption_dialog()
        qtbot.addWidget(dialog)
        installed = lambda: [  # noqa: E731
            dialog._folder_at(i).path.name for i in range(dialog.model_list.count()) if dialog._folder_at(i).usable
        ]
        assert installed() == []  # only "Not installed" entries

        qtbot.mouseClick(dialog.get_models_button, Qt.MouseButton.LeftButton)
        models = panel.window().findChild(ModelsDialog, "modelsDialog")
        assert models is not None and models.isVisible()
        row = models.rows[model.name]
        qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: row.state == RowState.INSTALLED, timeout=60000)

        qtbot.waitUntil(lambda: installed() == [model.name], timeout=5000)
        assert dialog.selected_folder().name == model.name and dialog.selected_folder().usable
