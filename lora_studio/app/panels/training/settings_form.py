"""The settings form, generated from the TrainConfig dataclasses: a Basic tab and an Advanced tab.

Every field gets an editor chosen from its type hint and a label and tooltip from
:mod:`field_specs`. Fields that don't apply to the current settings are greyed out, with the reason
in their tooltip. The form holds the config it was given, so fields without editors survive.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.field_specs import (
    GROUPS,
    HIDDEN_FIELDS,
    SPECS,
    spec_for,
    why_not_applicable,
)
from lora_studio.app.panels.training.field_editors import FieldEditor, make_editor
from lora_studio.core.families import ModelFamily
from lora_studio.training.config import TrainConfig, update

BASIC_ORDER = (
    "model.base_model",
    "dataset.trigger_word",
    "network.rank",
    "network.alpha",
    "optimizer.learning_rate",
    "run.epochs",
    "run.batch_size",
    "dataset.resolution",
    "optimizer.optimizer",
    "run.save_every_n_epochs",
    "sample.prompts",
    "sample.every_n_epochs",
    "run.output_name",
)


def config_fields(cls: type = TrainConfig, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, type hint) of every leaf field of the config tree, in declaration order."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Any]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        key = prefix + f.name
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            out.extend(config_fields(hint, key + "."))
        elif key not in HIDDEN_FIELDS:
            out.append((key, hint))
    return out


def _get(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


class SettingsForm(QWidget):
    """Edits a :class:`TrainConfig`. ``config_changed`` fires (debounced) after any edit."""

    config_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._config = TrainConfig()
        self._family: ModelFamily | None = None
        self.editors: dict[str, FieldEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self.briefs: dict[str, QLabel] = {}  # Basic view: key → its one-line explanation
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self._after_edit)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._scrolled(self._build_basic()), "Basic")
        self.tabs.addTab(self._scrolled(self._build_advanced()), "Advanced")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.set_config(self._config)

    # -- building ------------------------------------------------------------------------------
    def _scrolled(self, inner: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        area.setWidget(inner)
        return area

    def _add_row(self, form: QFormLayout, key: str, hint: Any, *, explained: bool = False) -> None:
        spec = spec_for(key)
        editor = make_editor(key, hint, spec)
        label = QLabel(spec.label)
        label.setBuddy(editor.widget)
        for w in (label, editor.widget):
            w.setToolTip(spec.tip)
        editor.changed.connect(self._debounce.start)
        self.editors[key] = editor
        self.labels[key] = label
        if not explained:
            form.addRow(label, editor.widget)
            return
        # The Basic view: a grey plain-words line under the field, readable without hovering.
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addWidget(editor.widget)
        note = QLabel(spec.brief or spec.tip)
        note.setObjectName("fieldBrief")
        note.setProperty("muted", True)
        note.setWordWrap(True)
        small = note.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        note.setFont(small)
        note.setToolTip(spec.tip)
        column.addWidget(note)
        self.briefs[key] = note
        label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form.addRow(label, cell)

    def _form(self) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(8)
        return form

    def _build_basic(self) -> QWidget:
        page = QWidget()
        form = self._form()
        form.setContentsMargins(4, 10, 8, 8)
        hints = dict(config_fields())
        for key in BASIC_ORDER:
            self._add_row(form, key, hints[key], explained=True)
        page.setLayout(form)
        return page

    def _build_advanced(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(4, 8, 8, 8)
        hint = QLabel("Every other setting. Hover over a name for what it does and a sensible range; greyed-out ones don't apply now.")
        hint.setWordWrap(True)
        hint.setProperty("muted", True)
        column.addWidget(hint)
        forms: dict[str, QFormLayout] = {}
        for key, type_hint in config_fields():
            if key in BASIC_ORDER or SPECS.get(key, spec_for(key)).hidden:
                continue
            section = key.split(".", 1)[0]
            if section not in forms:
                box = QGroupBox(GROUPS.get(section, section.title()))
                forms[section] = self._form()
                box.setLayout(forms[section])
                column.addWidget(box)
            self._add_row(forms[section], key, type_hint)
        column.addStretch(1)
        return page

    # -- values --------------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The config as edited (fields without editors keep the values last set)."""
        return update(self._config, **{key: editor.value() for key, editor in self.editors.items()})

    def set_config(self, config: TrainConfig) -> None:
        self._config = config
        for key, editor in self.editors.items():
            editor.set_value(_get(config, key))
        self._refresh_applicability(config)

    def flush(self) -> None:
        """Deliver an edit still waiting for its pause (before starting a run)."""
        if self._debounce.isActive():
            self._debounce.stop()
            self._after_edit()

    def set_value(self, key: str, value: Any) -> None:
        """Change one field as if the user had edited it."""
        self.editors[key].set_value(value)
        self._debounce.start()

    def set_detected_family(self, family: ModelFamily | None) -> None:
        self._family = family
        self._refresh_applicability(self.config())

    def mark_problems(self, fields: dict[str, str]) -> None:
        """Show the fields that have a problem (field key → message) in the accent of errors."""
        for key, label in self.labels.items():
            message = next((m for f, m in fields.items() if f == key or f.startswith(key + "[")), "")
            label.setStyleSheet("color: #cf222e; font-weight: 600;" if message else "")
            label.setToolTip(spec_for(key).tip + (f"\n\nProblem: {message}" if message else ""))

    def _after_edit(self) -> None:
        self._config = self.config()
        self._refresh_applicability(self._config)
        self.config_changed.emit()

    def _refresh_applicability(self, config: TrainConfig) -> None:
        for key, editor in self.editors.items():
            reason = why_not_applicable(key, config, self._family)
            tip = spec_for(key).tip + (f"\n\nNot used now: {reason}" if reason else "")
            for w in (editor.widget, self.labels[key]):
                w.setEnabled(not reason)
                w.setToolTip(tip)
