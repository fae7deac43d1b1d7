"""The network type (LoRA, LoHa, LoKr, DoRA) and the weight average are chosen in the training form,
each choice explained in one line, and the settings that only apply to one of them grey out."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox

from lora_studio.app.field_specs import ENUM_LABELS
from lora_studio.app.panels.training.settings_form import SettingsForm
from lora_studio.training.config import EmaTarget, NetworkAlgo


def _form(qtbot) -> SettingsForm:
    form = SettingsForm()
    qtbot.addWidget(form)
    form.resize(460, 700)
    form.show()
    form.tabs.setCurrentIndex(1)  # Advanced
    return form


def _choose(qtbot, form: SettingsForm, key: str, presses: int) -> None:
    combo = form.editors[key].widget
    assert isinstance(combo, QComboBox)
    combo.setFocus()
    with qtbot.waitSignal(form.config_changed, timeout=3000):
        for _ in range(presses):
            qtbot.keyClick(combo, Qt.Key.Key_Down)


def test_the_network_types_say_what_they_do_and_lokr_factor_applies_to_lokr_only(qtbot) -> None:
    form = _form(qtbot)
    combo = form.editors["network.algo"].widget
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts == [ENUM_LABELS[a] for a in NetworkAlgo]
    assert [t.split(":")[0] for t in texts] == ["LoRA", "LoHa", "LoKr", "DoRA"]
    assert all(len(t.split(":", 1)[1].strip()) > 10 and "\n" not in t for t in texts)
    factor = form.editors["network.lokr_factor"].widget
    assert not factor.isEnabled() and "Only used for LoKr" in factor.toolTip()
    _choose(qtbot, form, "network.algo", 2)  # LoRA -> LoHa -> LoKr
    assert form.config().network.algo == NetworkAlgo.LOKR
    assert combo.currentText().startswith("LoKr:")
    qtbot.waitUntil(factor.isEnabled, timeout=2000)
    # continuing from a LoRA file is only possible for plain LoRA
    assert not form.editors["network.init_weights"].widget.isEnabled()


def test_the_weight_average_settings_apply_once_it_is_saved(qtbot) -> None:
    form = _form(qtbot)
    decay = form.editors["ema.decay"].widget
    assert not decay.isEnabled()
    _choose(qtbot, form, "ema.save", 2)  # Off -> in the LoRA file -> beside it
    assert form.config().ema.save == EmaTarget.BESIDE
    qtbot.waitUntil(decay.isEnabled, timeout=2000)
    tb = form.editors["log.tensorboard"].widget
    assert form.config().log.tensorboard is False
    with qtbot.waitSignal(form.config_changed, timeout=3000):
        qtbot.mouseClick(tb, Qt.MouseButton.LeftButton, pos=QPoint(6, tb.height() // 2))  # the box
    assert form.config().log.tensorboard is True
