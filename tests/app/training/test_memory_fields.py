"""The memory settings appear in the Training panel with plain-words help and follow the presets."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox

from lora_studio.core.families import ModelFamily
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


def test_measure_fit_button_shows_the_measurement_and_applies_it(panel, qtbot, monkeypatch) -> None:
    from PySide6.QtCore import Qt

    from lora_studio.app.state import DeviceInfo
    from lora_studio.training import fit as F

    gb = 1024**3
    seen: list = []

    def fake_measure_fit(config, *, report=lambda _t: None, **_kw):
        seen.append(config)
        report("Measuring memory: as set")
        chosen = update(config, **{"memory.unet_weights": BaseWeights.FP8})
        return F.FitChoice(chosen, "fp8 base weights", F.Measurement(int(13.8 * gb), 1.9), 16 * gb)

    monkeypatch.setattr(F, "measure_fit", fake_measure_fit)
    button = panel.preflight.fit_button
    panel.context.set_device(DeviceInfo("Processor only (no NVIDIA card)"))
    assert not button.isEnabled() and "NVIDIA" in button.toolTip()
    panel.context.set_device(DeviceInfo("RTX 4080, 16 GB"))
    assert button.isEnabled()
    panel.set_config(preset(Purpose.CHARACTER, ModelFamily.SDXL, 16))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "fits: 13.8 of 16 GB, 1.9 s/step" in panel.preflight.fit_label.text(), timeout=15000)
    assert seen and seen[0].memory.unet_weights == BaseWeights.FULL
    assert panel.config().memory.unet_weights == BaseWeights.FP8  # the measured choice is applied
    # the formula estimate is now calibrated to the measurement
    qtbot.waitUntil(lambda: "about 13.8 GB" in panel.preflight.vram_label.text(), timeout=5000)


def test_run_memory_is_shown_in_mb_below_one_gb() -> None:
    from lora_studio.app.panels.training.run_monitor_widget import memory_text

    assert memory_text(37.4) == "37 MB"  # a tiny demo model: not "0.0 GB"
    assert memory_text(13.8 * 1024) == "13.8 GB"
    assert memory_text(None) == "–" and memory_text(0) == "–"
