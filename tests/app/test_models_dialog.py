"""The Models dialog (Help > Models…): real clicks download a tiny model from a stand-in hub on
127.0.0.1 (tests/captioning/hub_server.py) in a child process; nothing goes online."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from lora_studio.app.dialogs.model_row_widget import RowState
from lora_studio.app.dialogs.models_dialog import ModelsDialog
from lora_studio.captioning.catalog import get_model
from lora_studio.captioning.download import STAGING_DIR
from tests.captioning.hub_server import FakeHub, closed_port_url
from tests.captioning.tiny_models import TAGS, build_wd14

MODEL = get_model("wd-vit-tagger-v3")


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    tags = TAGS + [(f"tag_{i}", 0, 0.01, None) for i in range(600)]  # model.onnx of about 10 kB
    return build_wd14(tmp_path_factory.mktemp("hub") / "repo", tags=tags)


@pytest.fixture
def hub(tiny_tagger, monkeypatch):
    server = FakeHub()
    server.add_repo(MODEL.repo, tiny_tagger, lfs=("model.onnx",))
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # the app's hub setting, read when Download is pressed
    yield server
    server.release.set()
    server.stop()


@pytest.fixture
def root(context, tmp_path):
    folder = tmp_path / "captioners"
    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(folder),)))
    return folder


def open_from_menu(window) -> ModelsDialog:
    window.models_action.trigger()
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    assert dialog is not None and dialog.isVisible()
    return dialog


def click(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_download_button_installs_the_model(window, qtbot, hub, root, tiny_tagger):
    dialog = open_from_menu(window)
    row = dialog.rows[MODEL.name]
    assert row.status.text() == "Not installed" and row.download_button.isVisible()
    assert any("Apache 2.0" in label.text() for label in row.findChildren(type(row.status)))
    assert "about 380 MB" in row.size_label.text()

    click(qtbot, row.download_button)
    assert row.pause_button.isVisible() and row.cancel_button.isVisible()
    qtbot.waitUntil(lambda: row.state == RowState.INSTALLED, timeout=60000)

    assert row.status.text().startswith("Installed")
    assert not row.download_button.isVisible() and not row.progress.isVisible()
    folder = root / MODEL.name
    assert (folder / "model.onnx").read_bytes() == (tiny_tagger / "model.onnx").read_bytes()
    assert MODEL.installed_in(folder) and not (root / STAGING_DIR).exists()
    # Closing and opening again shows the same dialog, still "Installed" (read from the disk).
    dialog.close()
    assert open_from_menu(window) is dialog and row.state == RowState.INSTALLED


def test_pause_then_resume_continues_the_partial_file(window, qtbot, hub, root, tiny_tagger):
    hub.hold_after["model.onnx"] = 3000  # the server sends 3000 bytes, then waits
    dialog = open_from_menu(window)
    row = dialog.rows[MODEL.name]
    click(qtbot, row.download_button)
    qtbot.waitUntil(lambda: row.progress.maximum() == 1000 and row.progress.value() > 0, timeout=60000)
    click(qtbot, row.pause_button)
    assert row.state == RowState.PAUSING
    qtbot.wait(500)  # let the pause reach the child before the server carries on
    hub.release.set()
    qtbot.waitUntil(lambda: row.state == RowState.PAUSED, timeout=60000)
    assert row.status.text().startswith("Paused at")
    assert row.resume_button.isVisible() and row.cancel_button.isVisible() and row.progress.isVisible()
    part = root / STAGING_DIR / MODEL.name / "model.onnx.part"
    kept = part.stat().st_size
    assert 3000 <= kept < (tiny_tagger / "model.onnx").stat().st_size

    click(qtbot, row.resume_button)
    qtbot.waitUntil(lambda: row.state == RowState.INSTALLED, timeout=60000)
    assert [r for name, r in hub.requests if name == "model.onnx"] == ["", f"bytes={kept}-"]
    assert (root / MODEL.name / "model.onnx").read_bytes() == (tiny_tagger / "model.onnx").read_bytes()


def test_cancel_of_a_paused_download_deletes_the_partial_files(window, qtbot, hub, root):
    hub.hold_after["model.onnx"] = 3000
    dialog = open_from_menu(window)
    row = dialog.rows[MODEL.name]
    click(qtbot, row.download_button)
    qtbot.waitUntil(lambda: row.progress.maximum() == 1000 and row.progress.value() > 0, timeout=60000)
    click(qtbot, row.cancel_button)
    qtbot.wait(500)
    hub.release.set()
    qtbot.waitUntil(lambda: row.state == RowState.NOT_INSTALLED, timeout=60000)
    assert row.download_button.isVisible() and not row.progress.isVisible()
    assert not (root / STAGING_DIR).exists() and not (root / MODEL.name).exists()


def test_offline_shows_plain_words_in_the_row(window, qtbot, root, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    dialog = open_from_menu(window)
    row = dialog.rows[MODEL.name]
    click(qtbot, row.download_button)
    qtbot.waitUntil(lambda: row.state == RowState.FAILED, timeout=60000)
    assert "offline" in row.status.text() and "web browser" in row.status.text()
    assert row.download_button.isVisible()  # try again when back online
    assert not (root / MODEL.name).exists()


def test_opening_the_window_and_the_models_dialog_opens_no_connection(window, qtbot, root, monkeypatch):
    import socket

    tries = []

    def refuse(*args, **kwargs):
        tries.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    dialog = open_from_menu(window)
    click(qtbot, dialog.refresh_button)
    qtbot.wait(200)
    assert "looked again" in dialog.folder_label.text()
    assert {row.state for row in dialog.rows.values()} == {RowState.NOT_INSTALLED}
    assert tries == []


def test_asking_for_a_family_scrolls_to_its_first_model(window, qtbot, root):
    from lora_studio.app.dialogs.models_dialog import show_models_dialog

    dialog = show_models_dialog(window.context, window.dataset_panel, "bg_remover")
    assert dialog is window.findChild(ModelsDialog, "modelsDialog")
    row = dialog.rows["anime-seg"]
    qtbot.waitUntil(lambda: not row.visibleRegion().isEmpty(), timeout=5000)
    assert dialog.rows["wd-swinv2-tagger-v3"].visibleRegion().isEmpty()  # the top of the list scrolled away
    assert any("Apache 2.0" in label.text() for label in row.findChildren(type(row.status)))


def test_another_captioners_folder_in_the_settings_shows_its_models(window, qtbot, root, tmp_path):
    dialog = open_from_menu(window)
    row = dialog.rows["wd-swinv2-tagger-v3"]
    assert row.state == RowState.NOT_INSTALLED
    other = tmp_path / "elsewhere"
    build_wd14(other / "wd-swinv2-tagger-v3")  # copied there by hand
    window.context.update_settings(dataclasses.replace(window.context.settings, captioner_dirs=(str(other),)))
    assert row.state == RowState.INSTALLED and row.status.text().startswith("Installed")
    assert str(other) in dialog.folder_label.text()
