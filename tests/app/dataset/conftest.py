"""Fixtures for the Dataset panel: a real project with a few small generated pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lora_studio.dataset import project as proj

CAPTIONS = [
    "zorb, smiling, blue background",
    "zorb, waving, night sky",
    "zorb, smiling, beach",
]


def make_picture(path: Path, seed: int, size: tuple[int, int] = (320, 240)) -> Path:
    im = Image.new("RGB", size, (40 + seed * 60 % 200, 120, 200 - seed * 30 % 150))
    d = ImageDraw.Draw(im)
    d.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4), fill=(240, 140, 30))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


@pytest.fixture
def source_folder(tmp_path: Path) -> Path:
    """Pictures outside the project, with a non-ASCII name and spaces, and their captions."""
    folder = tmp_path / "Bilder für Zörb"
    for i, caption in enumerate(CAPTIONS):
        make_picture(folder / f"photo {i} é.png", i)
        (folder / f"photo {i} é.txt").write_text(caption, encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path, source_folder: Path) -> proj.Project:
    p = proj.create_project(tmp_path / "My Project", "Zorb")
    proj.add_concept(p, "zorb", repeats=10, trigger="zorb", class_word="mascot")
    proj.add_images(p, "zorb", [source_folder])
    return p


@pytest.fixture
def panel(qtbot, context, project, tmp_path: Path, monkeypatch):
    from lora_studio.app.panels.dataset import thumbnail_loader
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel

    monkeypatch.setattr(thumbnail_loader, "default_cache_dir", lambda: tmp_path / "thumbs")
    widget = DatasetPanel(context)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    context._set_project(project, project.root)
    qtbot.waitUntil(lambda: not widget.busy and widget.model.rowCount() == 3, timeout=10000)
    yield widget
    widget.loader.cancel_all()
    widget.loader.wait(5000)
    widget.crops.previews.wait(5000)
    widget.masks.erasers.wait(5000)


def select_first(panel, qtbot) -> None:
    row = panel.model.row_at(0)
    assert panel.grid.select_path(row.path)
    qtbot.waitUntil(lambda: panel.caption_editor.row is not None)
