"""The caption editor's header says whether the picture has a caption file, and stays true.

Walking a project of our own: the first tag typed for a picture wrote its caption file (the grid's
"no caption" badge went away), yet the header above the tags still said "no caption file yet".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lora_studio.dataset import captions as cap
from lora_studio.dataset import project as proj

from .conftest import make_picture, select_first


@pytest.fixture
def project(tmp_path: Path) -> proj.Project:
    """Three pictures without caption files (what a new user's own folder usually is)."""
    p = proj.create_project(tmp_path / "Uncaptioned", "Uncaptioned")
    proj.add_concept(p, "zorb", repeats=1)
    proj.add_images(p, "zorb", [make_picture(tmp_path / "source" / f"zorb {i}.png", i) for i in range(3)])
    return p


def test_the_header_says_caption_file_once_the_first_tag_wrote_it(panel, qtbot):
    select_first(panel, qtbot)
    editor = panel.caption_editor
    row = editor.row
    assert not row.caption_path.exists()
    assert editor.subtitle.text().endswith("no caption file yet")

    editor.tag_input.setFocus()
    qtbot.keyClicks(editor.tag_input, "gzorb, blue body")
    qtbot.keyClick(editor.tag_input, Qt.Key.Key_Return)

    assert cap.read_caption(row.caption_path).text == "gzorb, blue body"
    qtbot.waitUntil(lambda: editor.subtitle.text().endswith("· caption file"), timeout=5000)
    assert "no caption file yet" not in editor.subtitle.text()
    assert editor.title.text() == row.name
