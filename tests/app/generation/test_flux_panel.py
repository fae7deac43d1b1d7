"""The Generation panel with a FLUX.1 model: Distilled CFG Scale, FLUX samplers and sizes, the
negative prompt greyed out at CFG 1, schnell defaults, model weights, and a real generation."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lora_studio.core.families import ModelFamily
from lora_studio.formats.infotext import read_png_parameters


def _offer_flux(panel, tmp_path):
    """The picker offers the SD model plus the FLUX.1-dev and -schnell models the library finds in a
    model folder (BFL transformer files with their component files beside them)."""
    from lora_studio.generation.model_library import scan_library
    from tests.generation.flux_helpers import save_tiny_flux_model

    sd = panel.model_picker.current()
    dev = save_tiny_flux_model(tmp_path / "models" / "dev", "dev")
    schnell = save_tiny_flux_model(tmp_path / "models" / "schnell", "schnell")
    found = {m.path: m for m in scan_library([tmp_path / "models"], []).models}
    assert found[dev].family == found[schnell].family == ModelFamily.FLUX
    panel.model_picker.set_models([sd, found[dev], found[schnell]], sd.path)
    return sd, found[dev], found[schnell]


def _choose(qtbot, panel, item) -> None:
    combo = panel.model_picker.combo
    combo.setFocus()
    target = combo.findData(str(item.path))
    while combo.currentIndex() != target:  # arrow keys, as a person moves through the list
        qtbot.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up)


def test_flux_controls_follow_the_model(qtbot, panel, tmp_path):
    sd, dev, schnell = _offer_flux(panel, tmp_path)
    s = panel.settings_widget
    options = s.options
    assert not options.distilled_cfg.isVisibleTo(panel) and s.cfg.value() == 7.0
    assert panel.prompt_editor.negative.isEnabled()

    _choose(qtbot, panel, dev)
    assert options.distilled_cfg.isVisibleTo(panel) and options.distilled_cfg.isEnabled()
    assert options.distilled_label.text() == "Distilled CFG Scale" and options.distilled_cfg.value() == 3.5
    assert [s.sampler.itemText(i) for i in range(s.sampler.count())] == ["Euler"]
    assert s.schedule.currentText() == "Simple" and s.cfg.value() == 1.0 and s.steps.value() == 20
    assert not s.clip_skip.isEnabled() and "does not apply" in s.clip_skip.toolTip()
    # Hires fix is SD-only: the group is greyed out, says why, and a click on its box does nothing
    assert not s.hires.isEnabled() and "not with FLUX.1" in s.hires.toolTip()
    qtbot.mouseClick(s.hires, Qt.MouseButton.LeftButton, pos=_hires_box(s.hires))
    assert not s.hires.isChecked() and s.hires.hires() is None
    sizes = [s.size_preset.itemText(i) for i in range(s.size_preset.count())]
    assert "Portrait 896×1152" in sizes and "Landscape 3:2 1216×832" in sizes
    # CFG 1: the negative prompt does nothing for FLUX, so it is greyed out and says why.
    assert not panel.prompt_editor.negative.isEnabled()
    assert "CFG scale is 1" in panel.prompt_editor.negative.toolTip()
    s.cfg.setFocus()
    for _ in range(2):
        qtbot.keyClick(s.cfg, Qt.Key.Key_Up)  # 1 → 2: real CFG, the negative prompt counts again
    assert s.cfg.value() == 2.0 and panel.prompt_editor.negative.isEnabled()

    _choose(qtbot, panel, schnell)
    assert s.steps.value() == 4 and s.cfg.value() == 1.0
    assert options.distilled_cfg.isVisibleTo(panel) and not options.distilled_cfg.isEnabled()
    assert "no guidance" in options.distilled_cfg.toolTip()

    _choose(qtbot, panel, sd)
    assert not options.distilled_cfg.isVisibleTo(panel)
    assert "Euler a" in [s.sampler.itemText(i) for i in range(s.sampler.count())]
    assert s.cfg.value() == 7.0 and s.clip_skip.isEnabled() and panel.prompt_editor.negative.isEnabled()
    assert s.hires.isEnabled() and "second pass" in s.hires.toolTip()
    qtbot.mouseClick(s.hires, Qt.MouseButton.LeftButton, pos=_hires_box(s.hires))
    assert s.hires.isChecked() and s.hires.hires() is not None  # the same click works for SD


def _hires_box(group):
    """Where the Hires fix group's check box is drawn (its title)."""
    from PySide6.QtWidgets import QStyle, QStyleOptionGroupBox

    opt = QStyleOptionGroupBox()
    group.initStyleOption(opt)
    style = group.style()
    return style.subControlRect(QStyle.ComplexControl.CC_GroupBox, opt, QStyle.SubControl.SC_GroupBoxCheckBox, group).center()


def test_generate_with_flux_from_the_panel(qtbot, panel, tmp_path):
    """Choose the FLUX model, set Distilled CFG Scale and 8-bit weights, press Generate: the picture
    carries Forge's FLUX infotext."""
    _, dev, _ = _offer_flux(panel, tmp_path)
    _choose(qtbot, panel, dev)
    s = panel.settings_widget
    s.size_preset.setCurrentIndex(s.size_preset.findData("custom"))
    s.width_spin.setValue(64)
    s.height_spin.setValue(64)
    s.steps.setValue(2)
    s.seed.setText("77")
    s.options.distilled_cfg.setValue(2.5)
    weights = s.options.base_weights
    weights.setCurrentIndex(weights.findData("fp8"))
    assert "half the memory" in weights.toolTip()
    panel.prompt_editor.prompt.setPlainText("a photo of a cat")
    before = len(panel.gallery.entries)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_generating() and panel.jobs.idle, timeout=180000)
    assert len(panel.gallery.entries) > before, panel.status.text()
    info = read_png_parameters(panel.gallery.current().path) or ""
    assert "Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 2.5, Seed: 77" in info
    assert "Size: 64x64" in info
    assert panel.models.engine.is_loaded(dev.path, "fp8")
