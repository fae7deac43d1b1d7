"""The Training panel offers FLUX.1: the model type, its presets, its options (only for FLUX)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.base_weights import BaseWeights
from lora_studio.training.config import TimestepSampling, update


def _choose(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def test_flux_preset_from_the_preset_bar(panel, qtbot, tiny_project) -> None:
    bar = panel.presets
    assert bar.family.findText("FLUX.1") >= 0
    _choose(bar.family, ModelFamily.FLUX.value)
    six = bar.vram.model().item(bar.vram.findData(6))
    assert not six.isEnabled() and "at least 12 GB" in bar.vram.itemData(bar.vram.findData(6), Qt.ItemDataRole.ToolTipRole)
    assert bar.vram.currentData() >= 12
    _choose(bar.vram, 12)
    _choose(bar.purpose, "character")
    qtbot.mouseClick(bar.apply_button, Qt.MouseButton.LeftButton)
    config = panel.config()
    assert config.model.family == ModelFamily.FLUX
    assert config.memory.unet_weights == BaseWeights.FP8 and config.memory.blocks_to_swap > 0
    assert config.network.rank == 8 and config.flux.guidance_scale == 1.0
    assert config.run.epochs == round(2600 / 3)  # three pictures in the project, repeats 1
    assert "FLUX.1" in panel.notice.text()
    # what a person sees: the FLUX group and its values, the SD-only options greyed out with the reason
    group = panel.form.groups["flux"]
    qtbot.waitUntil(lambda: not group.isHidden(), timeout=2000)
    sampling = panel.form.editors["flux.timestep_sampling"].widget
    assert sampling.isEnabled() and "shift" in sampling.currentText()
    snr = panel.form.editors["loss.min_snr_gamma"].widget
    assert not snr.isEnabled() and "flow matching" in snr.toolTip()
    clip_skip = panel.form.editors["model.clip_skip"].widget
    assert not clip_skip.isEnabled() and "FLUX" in clip_skip.toolTip()
    _choose(bar.family, ModelFamily.SDXL.value)
    assert bar.vram.model().item(bar.vram.findData(6)).isEnabled()



def test_flux_preset_epochs_count_the_repeats(panel, qtbot, tiny_project) -> None:
    """A project whose repeats are not 1 still gets about the guides' 2,600 steps from the preset."""
    from lora_studio.dataset import project as proj

    proj.update_concept(tiny_project, "sks", repeats=5)
    bar = panel.presets
    _choose(bar.family, ModelFamily.FLUX.value)
    _choose(bar.vram, 16)
    _choose(bar.purpose, "character")
    qtbot.mouseClick(bar.apply_button, Qt.MouseButton.LeftButton)
    assert panel.config().run.epochs == round(2600 / 15)  # 3 pictures × 5 repeats per epoch
    qtbot.waitUntil(lambda: "= 2595 steps" in panel.presets.steps_label.text(), timeout=5000)


def test_flux_options_hidden_and_disabled_for_other_models(panel, qtbot) -> None:
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.SDXL}))
    group = panel.form.groups["flux"]
    qtbot.waitUntil(group.isHidden, timeout=2000)
    shift = panel.form.editors["flux.discrete_flow_shift"].widget
    assert not shift.isEnabled() and "Only for FLUX.1" in shift.toolTip()
    assert panel.form.editors["loss.min_snr_gamma"].widget.isEnabled()


def test_flux_option_edits_reach_the_config_and_follow_each_other(panel, qtbot) -> None:
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.FLUX}))
    sampling = panel.form.editors["flux.timestep_sampling"].widget
    shift = panel.form.editors["flux.discrete_flow_shift"].widget
    scale = panel.form.editors["flux.sigmoid_scale"].widget
    sampling.setCurrentIndex(sampling.findText("uniform", Qt.MatchFlag.MatchStartsWith))
    qtbot.waitUntil(lambda: not shift.isEnabled(), timeout=2000)
    assert not scale.isEnabled() and "sigmoid" in scale.toolTip()
    assert panel.config().flux.timestep_sampling == TimestepSampling.UNIFORM
    mask = panel.form.editors["flux.apply_t5_attn_mask"].widget
    panel.form.tabs.setCurrentIndex(1)  # the Advanced view holds the FLUX.1 group
    panel.form.tabs.currentWidget().ensureWidgetVisible(mask)
    qtbot.waitUntil(mask.isVisible, timeout=2000)
    qtbot.mouseClick(mask, Qt.MouseButton.LeftButton, pos=QPoint(4, mask.height() // 2))  # on the box
    panel.form.flush()
    assert panel.config().flux.apply_t5_attn_mask is True


def test_flux_kohya_config_imports_from_the_menu(panel, tmp_path: Path, monkeypatch) -> None:
    import json

    from lora_studio.app.panels.training import form_controller
    from tests.training.flux_kohya_configs import GUI_FLUX

    path = tmp_path / "flux.json"
    path.write_text(json.dumps(GUI_FLUX), encoding="utf-8")
    monkeypatch.setattr(form_controller.QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    panel.import_action.trigger()
    config = panel.config()
    assert config.model.family == ModelFamily.FLUX and config.flux.apply_t5_attn_mask
    assert config.flux.timestep_sampling == TimestepSampling.SIGMOID and config.memory.unet_weights == BaseWeights.FP8
    assert "every setting was understood" in panel.notice.text()
    assert not panel.form.groups["flux"].isHidden()


def test_sample_prompt_distilled_guidance_is_edited_in_the_panel(panel, qtbot) -> None:
    from lora_studio.app.panels.training.sample_prompts_editor import SamplePromptsEditor

    editor = panel.form.editors["sample.prompts"].widget
    editor = editor if isinstance(editor, SamplePromptsEditor) else editor.findChild(SamplePromptsEditor)
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    assert editor.guidance.value() == 3.5 and "Distilled CFG Scale" in editor.guidance.toolTip()
    editor.guidance.setValue(2.5)
    panel.form.flush()
    assert panel.config().sample.prompts[-1].guidance == 2.5


def test_auto_steps_for_flux_use_repeats_1_and_epochs_from_the_pictures(panel, qtbot, tiny_project) -> None:
    from lora_studio.dataset import project as proj

    proj.update_concept(tiny_project, "sks", repeats=5)
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.FLUX}))
    _choose(panel.presets.purpose, "character")
    qtbot.mouseClick(panel.presets.auto_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.config().run.epochs == round(2600 / 3), timeout=3000)
    assert all(c.repeats == 1 for c in panel.context.project.to_dataset().training_concepts())
    assert "FLUX.1" in panel.notice.text()


def test_network_type_is_plain_lora_for_flux(panel, qtbot) -> None:
    """FLUX.1 trains plain LoRA: the network-type choice is greyed out with the reason; a LoHa left
    from an SD run stays choosable (marked as a problem) until it is set back to LoRA."""
    from lora_studio.training.config import NetworkAlgo

    panel.form.tabs.setCurrentIndex(1)  # Advanced
    combo = panel.form.editors["network.algo"].widget
    label = panel.form.labels["network.algo"]
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.FLUX, "network.algo": NetworkAlgo.LOHA}))
    qtbot.waitUntil(lambda: "Problem: FLUX.1 trains plain LoRA only" in label.toolTip(), timeout=5000)
    assert combo.isEnabled() and combo.currentText().startswith("LoHa")
    assert any(i.field == "network.algo" and i.is_error for i in panel.preflight.issues)
    combo.setFocus()
    with qtbot.waitSignal(panel.form.config_changed, timeout=3000):
        qtbot.keyClick(combo, Qt.Key.Key_Up)  # LoHa -> LoRA
    assert panel.config().network.algo == NetworkAlgo.LORA
    qtbot.waitUntil(lambda: not combo.isEnabled(), timeout=3000)
    assert "Not used now: FLUX.1 trains plain LoRA only" in combo.toolTip() and "LoHa, LoKr and DoRA" in combo.toolTip()
    qtbot.waitUntil(lambda: not any(i.field == "network.algo" for i in panel.preflight.issues), timeout=5000)
    assert "Problem:" not in label.toolTip()
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.SDXL}))
    qtbot.waitUntil(combo.isEnabled, timeout=3000)
