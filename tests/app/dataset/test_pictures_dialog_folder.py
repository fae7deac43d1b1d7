"""The Add pictures / Add a folder dialogs open where a person keeps pictures.

Walking a project of our own: both dialogs opened in the folder LoRA Studio was started from (its
source folder, full of `lora_studio`, `tests`, `packaging`), not near any picture.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import QFileDialog

from .conftest import make_picture


def test_the_dialogs_open_at_the_pictures_folder_then_where_pictures_were_picked(
    panel, qtbot, tmp_path: Path, monkeypatch
):
    started_in = tmp_path / "where the app was started"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    more = tmp_path / "more pictures"
    new = [make_picture(more / f"extra {i}.png", 5 + i) for i in range(2)]
    opened: list[str] = []

    def pick_files(parent, title, folder, filters):
        opened.append(folder)
        return [str(p) for p in new], filters

    def cancel_folder(parent, title, folder):
        opened.append(folder)
        return ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(pick_files))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(cancel_folder))
    # (which concept they go to is asked by another dialog, answered here)
    monkeypatch.setattr(panel.imports, "ask_concept", lambda paths, current, new_name: ("zorb", False))

    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    assert opened[0] in {pictures, str(Path.home())}
    assert Path(opened[0]).is_dir()
    assert Path(opened[0]) != started_in
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() == 5, timeout=10000)

    # The next dialogs open where those pictures came from, the folder one too.
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    panel.add_folder_action.trigger()
    assert opened[1:] == [str(more), str(more)]
