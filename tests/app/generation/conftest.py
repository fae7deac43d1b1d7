"""Fixtures for the Generation panel: a tiny model in a model folder, LoRAs in a LoRA folder, a project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lora_studio.app.state import AppContext
from lora_studio.core.settings import AppSettings


@pytest.fixture(scope="session")
def gen_library(tmp_path_factory, tiny_sd1_dir) -> dict[str, Path]:
    """models/tiny-sd1 (diffusers folder) and loras/{alpha,beta,miso-e000001,miso-e000002}.safetensors."""
    from tests.generation.conftest import make_kohya_lora

    root = tmp_path_factory.mktemp("gen-library")
    models = root / "models"
    models.mkdir()
    shutil.copytree(tiny_sd1_dir, models / "tiny-sd1")
    loras = root / "loras"
    loras.mkdir()
    make_kohya_lora(loras / "alpha.safetensors", "sd1", 11)
    make_kohya_lora(loras / "beta.safetensors", "sd1", 12)
    make_kohya_lora(loras / "miso-e000001.safetensors", "sd1", 13)
    make_kohya_lora(loras / "miso-e000002.safetensors", "sd1", 14)
    return {"models": models, "loras": loras, "model": models / "tiny-sd1"}


@pytest.fixture
def gen_context(qapp, tmp_path: Path, gen_library) -> AppContext:
    settings = AppSettings(
        checkpoint_dirs=(str(gen_library["models"]),),
        lora_dirs=(str(gen_library["loras"]),),
        output_dir=str(tmp_path / "outputs"),
        device="cpu",
    )
    ctx = AppContext(settings, settings_path=tmp_path / "settings.toml")
    yield ctx
    ctx.jobs.shutdown(20000)


@pytest.fixture
def panel(qtbot, gen_context):
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel

    widget = GenerationPanel(gen_context)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitUntil(
        lambda: len(widget.mixer.rows) == 4 and widget.model_picker.current() is not None, timeout=20000
    )
    qtbot.waitUntil(lambda: widget.jobs.idle, timeout=60000)
    return widget


def set_small(panel) -> None:
    """64×64, 2 steps: as cheap as a real generation gets."""
    s = panel.settings_widget
    s.size_preset.setCurrentIndex(s.size_preset.findData("custom"))
    s.width_spin.setValue(64)
    s.height_spin.setValue(64)
    s.steps.setValue(2)
    s.sampler.setCurrentText("Euler")
    s.seed.setText("1234")
