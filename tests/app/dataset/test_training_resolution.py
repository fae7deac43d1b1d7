"""One training resolution per project: the project's training settings (training.toml) drive the crop
editor's "Train at", the Dataset tab's check and ``lora-studio dataset check``."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lora_studio.cli.main import main as cli_main
from lora_studio.training.config_files import PROJECT_CONFIG, project_settings

UPSCALE_WORDS = "smaller than the training size"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "Demo project"
    assert cli_main(["demo", "create", str(root)]) == 0
    return root


@pytest.fixture
def demo_panel(qtbot, context, demo_dir, tmp_path, monkeypatch):
    from lora_studio.app.panels.dataset import thumbnail_loader
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel

    monkeypatch.setattr(thumbnail_loader, "default_cache_dir", lambda: tmp_path / "thumbs")
    panel = DatasetPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    panel.show()
    context.open_project(demo_dir)
    qtbot.waitUntil(lambda: not panel.busy and panel.model.rowCount() > 0, timeout=20000)
    yield panel
    panel.loader.cancel_all()
    panel.loader.wait(5000)


def run_check(qtbot, panel) -> list[str]:
    """Press "Check the dataset" and read the problems listed."""
    qtbot.mouseClick(panel.check.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.check.running and not panel.busy, timeout=30000)
    tree = panel.check.tree
    return [
        tree.topLevelItem(g).child(i).text(0)
        for g in range(tree.topLevelItemCount())
        for i in range(tree.topLevelItem(g).childCount())
    ]


def test_cli_dataset_check_uses_the_projects_training_resolution(demo_dir, capsys):
    assert (demo_dir / PROJECT_CONFIG).is_file()
    cli_main(["dataset", "check", str(demo_dir)])
    out = capsys.readouterr().out
    assert "Training resolution 64 (from the project's training.toml)" in out
    assert UPSCALE_WORDS not in out

    cli_main(["dataset", "check", str(demo_dir), "--resolution", "1024"])
    out = capsys.readouterr().out
    assert "Training resolution 1024 (--resolution)" in out
    assert UPSCALE_WORDS in out


def test_the_demo_opens_with_its_own_training_resolution_everywhere(qtbot, context, demo_panel, demo_dir):
    panel = demo_panel
    assert project_settings(demo_dir).dataset.resolution == 64
    assert panel.crop_editor.resolution.currentText() == "64"

    problems = run_check(qtbot, panel)
    assert not [p for p in problems if UPSCALE_WORDS in p], problems
    assert "No problems found" in panel.check.summary.text() or problems

    # The person picks another size in the crop editor (keyboard on the box): the project's
    # training settings change with it (saved in training.toml), and the check now measures at it.
    combo = panel.crop_editor.resolution
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Home)
    assert combo.currentText() == "512 (SD 1.5)"
    assert context.training.config.dataset.resolution == 512
    assert project_settings(demo_dir).dataset.resolution == 512
    problems = run_check(qtbot, panel)
    assert [p for p in problems if UPSCALE_WORDS in p and "512" in p], problems

    # ... and when the Training tab's setting changes, the crop editor follows.
    from lora_studio.training.config import update

    context.training.edit(update(context.training.current(), **{"dataset.resolution": 64}))
    assert combo.currentText() == "64"
    assert not [p for p in run_check(qtbot, panel) if UPSCALE_WORDS in p]
