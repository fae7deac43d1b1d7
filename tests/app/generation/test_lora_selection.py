"""One LoRA selection for the mixer and the prompt: per-part weights typed in a tag reach the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lora_studio.core.families import ModelFamily
from lora_studio.generation import jobs as jobs
from lora_studio.generation.request import GenerationResult
from tests.app.generation.conftest import set_small


class _RecordingEngine:
    """Stands in for the GenerationEngine: keeps each request it is asked to draw."""

    def __init__(self) -> None:
        self.requests: list = []

    def generate(self, request, reporter, control):
        self.requests.append(request)
        return GenerationResult()


class _FakeHolder(jobs.EngineHolder):
    def __init__(self) -> None:
        super().__init__("cpu")
        self.fake = _RecordingEngine()

    def engine(self, lora_dirs):
        return self.fake

    def is_loaded(self, model, base_weights="full") -> bool:
        return True

    def load(self, model, lora_dirs, reporter, base_weights="full") -> jobs.ModelReady:
        return jobs.ModelReady(Path(model), ModelFamily.SD1, 64, 0.0)


def test_typed_per_part_weights_reach_the_engine(qtbot, panel):
    holder = _FakeHolder()
    panel.models.engine = holder
    set_small(panel)
    box = panel.prompt_editor.prompt
    box.setFocus()
    qtbot.keyClicks(box, "a cat <lora:alpha:0.7:unet=0.8:te=0.3>")
    panel.prompt_editor.flush()
    # The mixer shows the tag's overall strength.
    row = panel.mixer.row("alpha")
    assert row.enabled and row.weight == pytest.approx(0.7)

    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(holder.fake.requests) and panel.jobs.idle, timeout=30000)
    (request,) = holder.fake.requests
    (spec,) = request.loras
    assert Path(spec.path).stem == "alpha"
    assert (spec.weight, spec.unet_weight, spec.te_weight) == pytest.approx((0.7, 0.8, 0.3))
    assert request.prompt == "a cat"


def test_moving_the_slider_keeps_the_per_part_weights(qtbot, panel):
    panel.prompt_editor.prompt.setPlainText("a cat, <lora:alpha:0.7:unet=0.8:te=0.3>")
    panel.prompt_editor.flush()
    panel.mixer.row("alpha").spin.setValue(0.5)
    assert panel.prompt_editor.prompt.text == "a cat, <lora:alpha:0.5:unet=0.8:te=0.3>"
    (spec,) = panel.requests.lora_specs()
    assert (spec.weight, spec.unet_weight, spec.te_weight) == pytest.approx((0.5, 0.8, 0.3))
    # Unticking the row removes the tag; the prompt's other words stay.
    panel.mixer.row("alpha").check.setChecked(False)
    assert panel.prompt_editor.prompt.text == "a cat"
    assert panel.state.selection.choices == ()


def test_restoring_a_picture_keeps_per_part_weights(qtbot, panel):
    text = (
        "a cat <lora:beta:0.6:unet=1:te=0.25>\nNegative prompt: blurry\n"
        "Steps: 2, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, Model: tiny-sd1"
    )
    panel.gallery_control.apply_infotext(text)
    assert "<lora:beta:0.6:unet=1:te=0.25>" in panel.prompt_editor.prompt.text
    row = panel.mixer.row("beta")
    assert row.enabled and row.weight == pytest.approx(0.6)
    (spec,) = panel.requests.lora_specs()
    assert (spec.unet_weight, spec.te_weight) == pytest.approx((1.0, 0.25))
