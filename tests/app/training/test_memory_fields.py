"""The memory settings appear in the Training panel with plain-words help and follow the presets."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

from lora_studio.diffusion.families import ModelFamily
from lora_studio.training.config import BaseWeights, update
from lora_studio.training.presets import Purpose, preset


def test_memory_fields_explain_themselves(panel, qtbot) -> None:
    weights = panel.form.editors["memory.unet_weights"].widget
    assert isinstance(weights, QComboBox)
    labels = [weights.itemText(i) for i in range(weights.count())]
    assert "8-bit float (fp8)" in labels and "4-bit NF4 (bitsandbytes, QLoRA)" in labels
    assert "uses about half the memory, slightly slower" in weights.toolTip()
    assert "system memory" in panel.form.labels["memory.blocks_to_swap"].text()
    te = panel.form.editors["memory.text_encoder_weights"].widget
    panel.set_config(
        update(panel.config(), **{"network.train_text_encoder": True, "optimizer.text_encoder_lr": 1e-4})
    )
    qtbot.waitUntil(lambda: not te.isEnabled(), timeout=2000)
    assert "trained" in te.toolTip()


def test_picking_fp8_in_the_panel_reaches_the_config(panel, qtbot) -> None:
    weights = panel.form.editors["memory.unet_weights"].widget
    weights.setCurrentIndex(weights.findText("8-bit float (fp8)"))
    assert panel.config().memory.unet_weights == BaseWeights.FP8


def test_sdxl_presets_use_low_precision_weights_on_small_cards(panel) -> None:
    assert preset(Purpose.CHARACTER, ModelFamily.SDXL, 6).memory.unet_weights == BaseWeights.NF4
    assert preset(Purpose.CHARACTER, ModelFamily.SDXL, 8).memory.unet_weights == BaseWeights.FP8
    assert preset(Purpose.CHARACTER, ModelFamily.SDXL, 24).memory.unet_weights == BaseWeights.FULL
    panel.form.set_config(preset(Purpose.CHARACTER, ModelFamily.SDXL, 8))
    assert panel.form.editors["memory.unet_weights"].widget.currentText() == "8-bit float (fp8)"
