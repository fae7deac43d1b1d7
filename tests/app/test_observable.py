"""The observable state and its one-call widget binding."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QSlider, QSpinBox

from lora_studio.app.observable import ObservableState, Prop, bind


class _State(ObservableState):
    count_changed = Signal(int)
    count = Prop(3)
    name_changed = Signal(str)
    name = Prop("miso")
    weight_changed = Signal(float)
    weight = Prop(1.0)
    on_changed = Signal(bool)
    on = Prop(False)


def test_a_property_emits_only_on_change(qapp):
    state = _State()
    seen: list[int] = []
    state.count_changed.connect(seen.append)
    state.count = 3
    state.count = 4
    state.count = 4
    assert seen == [4] and state.count == 4


def test_a_property_without_its_signal_is_refused():
    with pytest.raises(TypeError, match="size_changed"):

        class _Broken(ObservableState):
            size = Prop(1)


def test_bind_syncs_both_ways(qtbot):
    state = _State()
    spin, edit, box = QSpinBox(), QLineEdit(), QCheckBox()
    for w in (spin, edit, box):
        qtbot.addWidget(w)
    bind(state, "count", spin, "value")
    bind(state, "name", edit, "text")
    bind(state, "on", box, "checked")
    assert (spin.value(), edit.text(), box.isChecked()) == (3, "miso", False)
    state.count, state.name, state.on = 7, "tama", True
    assert (spin.value(), edit.text(), box.isChecked()) == (7, "tama", True)
    spin.setValue(9)
    qtbot.keyClicks(edit, "!")
    box.click()
    assert (state.count, state.name, state.on) == (9, "tama!", False)


def test_bind_converts_and_one_way(qtbot):
    state = _State()
    slider, label = QSlider(), QLabel()
    slider.setRange(-200, 200)
    qtbot.addWidget(slider)
    qtbot.addWidget(label)
    bind(state, "weight", slider, "value", to_widget=lambda w: round(w * 100), to_state=lambda v: v / 100)
    bind(state, "name", label, "text", one_way=True)
    assert slider.value() == 100 and label.text() == "miso"
    slider.setValue(-45)
    assert state.weight == pytest.approx(-0.45)
    state.weight = 0.3
    assert slider.value() == 30
    state.name = "tama"
    assert label.text() == "tama"
