"""The training form explains itself: a plain line under every Basic field, sensible ranges, and
a sample-prompt editor with real fields instead of kohya's ``--s 20 --l 7`` syntax."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox

from lora_studio.app.field_specs import ENUM_LABELS, SPECS
from lora_studio.app.panels.training.settings_form import BASIC_ORDER, SettingsForm, config_fields
from lora_studio.training.config import OptimizerKind, SamplePrompt, TrainConfig, update


def _form(qtbot) -> SettingsForm:
    form = SettingsForm()
    qtbot.addWidget(form)
    form.resize(460, 700)
    form.show()
    return form


def _emitted_config(qtbot, form: SettingsForm, action) -> TrainConfig:
    with qtbot.waitSignal(form.config_changed, timeout=3000):
        action()
    return form.config()


def _type_number(qtbot, spin: QAbstractSpinBox, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def test_every_field_has_help_and_every_basic_field_a_visible_plain_line(qtbot) -> None:
    keys = [k for k, _ in config_fields()]
    assert all(SPECS[k].tip.strip() for k in keys), "a field without its help text"
    form = _form(qtbot)
    basic_page = form.tabs.widget(0).widget()
    for key in BASIC_ORDER:
        brief = SPECS[key].brief
        assert SPECS[key].basic and brief and "\n" not in brief and len(brief) <= 100, key
        note = form.briefs[key]
        assert note.text() == brief
        assert note.isVisibleTo(basic_page) and basic_page.isAncestorOf(note), key
        assert note.height() >= note.fontMetrics().height()  # laid out, not squeezed to nothing
    # Advanced fields are explained by their tooltip (label and editor).
    for key in set(keys) - set(BASIC_ORDER):
        assert SPECS[key].tip in form.labels[key].toolTip(), key
        assert key not in form.briefs


def test_basic_number_boxes_have_sensible_ranges(qtbot) -> None:
    form = _form(qtbot)
    ranges = {
        key: (w.minimum(), w.maximum())
        for key in BASIC_ORDER
        if isinstance(w := form.editors[key].widget, QAbstractSpinBox)
    }
    assert ranges["network.rank"] == (1, 512)
    assert ranges["run.epochs"] == (1, 1000)
    assert ranges["dataset.resolution"] == (64, 2048)
    assert all(hi <= 2048 for hi in (r[1] for r in ranges.values())), ranges
    # The ranges guide typing; a loaded setting outside them is kept as it is, not cut down.
    big = update(TrainConfig(), **{"network.rank": 1024, "network.alpha": 1024.0, "run.epochs": 4000})
    form.set_config(big)
    assert form.config() == big


def test_the_optimizer_choices_say_what_they_do(qtbot) -> None:
    form = _form(qtbot)
    combo = form.editors["optimizer.optimizer"].widget
    assert isinstance(combo, QComboBox)
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts == [ENUM_LABELS[k] for k in OptimizerKind]
    assert all(":" in t and len(t.split(":", 1)[1].strip()) > 5 for t in texts), texts


def test_sample_prompts_are_edited_with_fields_add_and_remove(qtbot) -> None:
    form = _form(qtbot)
    editor = form.editors["sample.prompts"].widget
    form.set_config(update(TrainConfig(), **{"sample.prompts": ()}))
    assert editor.list.count() == 0 and not editor.prompt.isEnabled()

    config = _emitted_config(qtbot, form, lambda: qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton))
    assert len(config.sample.prompts) == 1 and editor.prompt.isEnabled()

    def fill_first() -> None:
        editor.prompt.selectAll()
        qtbot.keyClicks(editor.prompt, "mxstyle, a cat on a sofa")
        qtbot.keyClicks(editor.negative, "blurry")
        _type_number(qtbot, editor.steps, "28")
        _type_number(qtbot, editor.cfg, "5.5")
        _type_number(qtbot, editor.width_box, "640")
        _type_number(qtbot, editor.height_box, "512")
        _type_number(qtbot, editor.seed, "42")

    _emitted_config(qtbot, form, fill_first)
    qtbot.wait(200)
    first = SamplePrompt(prompt="mxstyle, a cat on a sofa", negative="blurry", width=640, height=512, seed=42, steps=28, cfg=5.5)
    assert form.config().sample.prompts == (first,)
    assert editor.list.item(0).text() == "mxstyle, a cat on a sofa"

    # A second prompt starts as a copy of the picked one; change its text only.
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    editor.prompt.selectAll()
    qtbot.keyClicks(editor.prompt, "mxstyle, a street at night")
    qtbot.wait(250)
    second = dataclasses.replace(first, prompt="mxstyle, a street at night")
    assert form.config().sample.prompts == (first, second)

    # Pick the first one and remove it with the button.
    editor.list.setCurrentRow(0)
    assert editor.prompt.text() == "mxstyle, a cat on a sofa" and editor.steps.value() == 28
    config = _emitted_config(qtbot, form, lambda: qtbot.mouseClick(editor.remove_button, Qt.MouseButton.LeftButton))
    assert [p.prompt for p in config.sample.prompts] == ["mxstyle, a street at night"]
    assert editor.prompt.text() == "mxstyle, a street at night"

    config = _emitted_config(qtbot, form, lambda: qtbot.mouseClick(editor.remove_button, Qt.MouseButton.LeftButton))
    assert config.sample.prompts == () and editor.list.count() == 0


def test_clearing_a_prompt_to_retype_it_keeps_it_in_the_list(qtbot) -> None:
    form = _form(qtbot)
    editor = form.editors["sample.prompts"].widget
    form.set_config(update(TrainConfig(), **{"sample.prompts": (SamplePrompt(prompt="old words"),)}))
    editor.list.setCurrentRow(0)
    editor.prompt.selectAll()
    qtbot.keyClick(editor.prompt, Qt.Key.Key_Delete)
    qtbot.wait(300)  # the form's pause passes; the config goes round
    form.set_config(form.config())
    assert editor.list.count() == 1 and editor.prompt.isEnabled()
    qtbot.keyClicks(editor.prompt, "new words")
    qtbot.wait(300)
    assert [p.prompt for p in form.config().sample.prompts] == ["new words"]


def test_values_outside_the_boxes_ranges_survive_untouched(qtbot) -> None:
    form = _form(qtbot)
    odd = SamplePrompt(prompt="wide", width=4096, height=256, steps=500, cfg=0.5, seed=7)
    config = update(TrainConfig(), **{"sample.prompts": (odd,)})
    form.set_config(config)
    assert form.config().sample.prompts == (odd,)
