"""The Auto-caption dialog offers every captioner, previews one picture, and runs the instruction
captioners (tiny Qwen2.5-VL built in code) with the instruction and trigger word from its fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.captioning.base import FlorenceOptions, FlorenceTask, InstructOptions, Quantization
from lora_studio.captioning.runner import CaptionMode
from tests.captioning.tiny_vlm import build_florence2, build_qwen_vl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models") / "captioners"
    build_qwen_vl(root / "Qwen2.5-VL-tiny")
    build_florence2(root / "Florence-2-tiny")
    return root


def open_dialog(panel, context, qtbot, root):
    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(root),)))
    panel.concepts.select("zorb")
    qtbot.mouseClick(panel.autocaption_button, Qt.MouseButton.LeftButton)
    dialog = panel.captions.autocaption
    qtbot.addWidget(dialog)
    return dialog


def select_model(dialog, name: str) -> None:
    row = next(i for i in range(dialog.model_list.count()) if name in dialog.model_list.item(i).text())
    dialog.model_list.setCurrentRow(row)


def test_every_captioner_is_offered_and_missing_ones_say_what_to_do(panel, qtbot, context, models_root):
    dialog = open_dialog(panel, context, qtbot, models_root)
    texts = [dialog.model_list.item(i).text() for i in range(dialog.model_list.count())]
    for family in ("Qwen-VL", "Florence-2", "JoyCaption", "WD14 tagger", "BLIP"):
        assert any(family in t for t in texts), family
    select_model(dialog, "JoyCaption")
    assert not dialog.start_button.isEnabled()
    assert "Not installed. Put " in dialog.start_button.toolTip()
    assert "fancyfeast/llama-joycaption-beta-one-hf-llava" in dialog.status.text()
    asked = []
    dialog.models_requested.connect(asked.append)
    dialog.request_models()
    assert asked == ["llava"]  # the hook the Models dialog connects to

    select_model(dialog, "Florence-2-tiny")
    assert dialog.start_button.isEnabled()
    dialog.options_stack.florence_task.setCurrentIndex(
        dialog.options_stack.florence_task.findData(FlorenceTask.MORE_DETAILED.value)
    )
    options = dialog.options()
    assert isinstance(options, FlorenceOptions) and options.task is FlorenceTask.MORE_DETAILED
    dialog.close()


def test_preview_then_run_with_the_instruction_and_trigger(panel: DatasetPanel, qtbot, context, models_root):
    rows = panel.model.rows()
    panel.grid.select_path(rows[0].path)
    before = {r.caption_path: r.caption_path.read_bytes() for r in rows}
    dialog = open_dialog(panel, context, qtbot, models_root)
    select_model(dialog, "Qwen2.5-VL-tiny")
    stack = dialog.options_stack
    assert stack.currentWidget().isVisibleTo(dialog) and stack.instruction.isVisibleTo(dialog)
    stack.instruction.setPlainText("Describe the clothes and pose of {trigger}.")
    stack.quantization.setCurrentIndex(stack.quantization.findData(Quantization.FOUR_BIT.value))
    stack.instruct_length.setValue(5)
    dialog.mode.setCurrentIndex(dialog.mode.findData(CaptionMode.REPLACE.value))
    options = dialog.options()
    assert isinstance(options, InstructOptions) and options.quantization is Quantization.FOUR_BIT

    qtbot.mouseClick(dialog.sample.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.sample.worker is None, timeout=60000)
    shown = dialog.sample.result.text()
    assert shown.startswith(f"{rows[0].name} would get: zorb, "), shown
    assert "describe the clothes and pose of zorb" in shown  # what the model was asked
    assert {r.caption_path: r.caption_path.read_bytes() for r in rows} == before  # a preview writes nothing
    assert dialog.sample._loaded is not None  # kept for the next preview

    dialog.set_scope("concept")
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.sample._loaded is None  # let go before the run
    formats = []
    dialog.worker.event.connect(lambda e: formats.append(dialog.progress.format()))
    qtbot.waitUntil(lambda: not dialog.running, timeout=60000)
    assert any(f.startswith("%v of %m — about ") and f.endswith(" left") for f in formats), formats
    assert dialog.report is not None and len(dialog.report.changed_files) == 3
    assert all(r.caption_path.read_text(encoding="utf-8").startswith("zorb, ") for r in panel.model.rows())
    panel.captions.undo()
    assert {r.caption_path: r.caption_path.read_bytes() for r in rows} == before
    dialog.close()
