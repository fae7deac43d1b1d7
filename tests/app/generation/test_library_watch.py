"""The Generation tab's LoRA and model lists follow the folders on disk without pressing Refresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lora_studio.app.state import AppContext
from lora_studio.core.settings import AppSettings


@pytest.fixture
def watched_panel(qtbot, qapp, tmp_path: Path, gen_library):
    """A Generation tab over a LoRA folder of its own (the shared library stays untouched)."""
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel

    loras = tmp_path / "loras"
    loras.mkdir()
    shutil.copy(gen_library["loras"] / "alpha.safetensors", loras / "alpha.safetensors")
    settings = AppSettings(
        checkpoint_dirs=(str(gen_library["models"]),),
        lora_dirs=(str(loras),),
        output_dir=str(tmp_path / "outputs"),
        device="cpu",
    )
    context = AppContext(settings, settings_path=tmp_path / "settings.toml")
    panel = GenerationPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: list(panel.mixer.rows) == ["alpha"], timeout=20000)
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=20000)
    yield panel, loras
    context.jobs.shutdown(20000)


def shown_loras(panel) -> set[str]:
    return {row.item.name for row in panel.mixer.rows.values() if not row.isHidden()}


def test_a_new_lora_file_appears_and_a_removed_one_disappears_without_refresh(
    qtbot, watched_panel, gen_library
):
    panel, loras = watched_panel
    assert shown_loras(panel) == {"alpha"}

    # A training run finishes: its LoRA lands in the folder (written under another name, then renamed,
    # as a finished file arrives).
    partial = loras / "fresh-run.safetensors.part"
    shutil.copy(gen_library["loras"] / "beta.safetensors", partial)
    partial.rename(loras / "fresh-run.safetensors")
    qtbot.waitUntil(lambda: shown_loras(panel) == {"alpha", "fresh-run"}, timeout=20000)

    # A LoRA copied into a new subfolder of the LoRA folder is found too.
    sub = loras / "characters"
    sub.mkdir()
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=20000)
    qtbot.waitUntil(lambda: str(sub) in panel.models.watcher.folders(), timeout=20000)
    shutil.copy(gen_library["loras"] / "miso-e000001.safetensors", sub / "miso-e000001.safetensors")
    qtbot.waitUntil(lambda: shown_loras(panel) == {"alpha", "fresh-run", "miso-e000001"}, timeout=20000)

    (loras / "alpha.safetensors").unlink()
    qtbot.waitUntil(lambda: shown_loras(panel) == {"fresh-run", "miso-e000001"}, timeout=20000)


def test_a_lora_trained_into_the_open_projects_output_folder_appears(
    qtbot, watched_panel, gen_library, tmp_path
):
    panel, _ = watched_panel
    context = panel.context
    context.create_project(tmp_path / "zorb", "zorb")
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=20000)
    output = tmp_path / "zorb" / "output"
    output.mkdir(exist_ok=True)
    qtbot.waitUntil(lambda: str(output) in panel.models.watcher.folders(), timeout=20000)

    shutil.copy(gen_library["loras"] / "beta.safetensors", output / "zorb-e000001.safetensors")
    qtbot.waitUntil(lambda: "zorb-e000001" in shown_loras(panel), timeout=20000)
    assert panel.mixer.row("zorb-e000001").item.source == "project"
