"""One editor per config field type: a widget plus get/set, chosen from the field's type hint."""

from __future__ import annotations

import enum
import re
import shlex
import types
import typing
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from lora_studio.app.field_specs import ENUM_LABELS, NONE_LABELS, FieldSpec
from lora_studio.app.panels.training.sample_prompts_editor import SamplePromptsEditor


class SciSpinBox(QDoubleSpinBox):
    """A spin box that shows and reads learning rates like 1e-4; arrows multiply/divide by 2."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt's name
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        if not re.fullmatch(r"\s*-?[0-9.]*(e-?[0-9]*)?\s*", text, re.IGNORECASE):
            return (QValidator.State.Invalid, text, pos)
        try:
            float(text)
        except ValueError:
            return (QValidator.State.Intermediate, text, pos)
        return (QValidator.State.Acceptable, text, pos)

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value()
        if value <= 0:
            self.setValue(1e-4 if steps > 0 else value)
            return
        self.setValue(value * (2.0**steps))


class FieldEditor(QObject):
    """A widget that edits one config value."""

    changed = Signal()

    def __init__(self, widget: QWidget, getter: Callable[[], Any], setter: Callable[[Any], None]) -> None:
        super().__init__(widget)
        self.widget = widget
        self._get = getter
        self._set = setter

    def value(self) -> Any:
        return self._get()

    def set_value(self, value: Any) -> None:
        self.blockSignals(True)
        try:
            self._set(value)
        finally:
            self.blockSignals(False)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def make_editor(key: str, hint: Any, spec: FieldSpec, parent: QWidget | None = None) -> FieldEditor:
    base, optional = _unwrap_optional(hint)
    if spec.kind == "prompts":
        return _prompts_editor(parent)
    if spec.kind == "kwargs" or typing.get_origin(base) is dict or base is dict:
        return _kwargs_editor(parent)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return _enum_editor(key, base, optional, parent)
    if base is bool:
        box = QCheckBox(parent)
        editor = FieldEditor(box, box.isChecked, lambda v: box.setChecked(bool(v)))
        box.toggled.connect(editor.changed)
        return editor
    if base is int:
        spin = QSpinBox(parent)
        spin.setRange(int(spec.minimum), int(min(spec.maximum, 2**31 - 1)))
        spin.setSingleStep(max(1, int(spec.step)))
        _common_spin(spin)
        editor = FieldEditor(spin, spin.value, lambda v: _set_within(spin, int(v)))
        spin.valueChanged.connect(editor.changed)
        return editor
    if base is float:
        return _float_editor(spec, optional, parent)
    if spec.kind in ("file", "folder", "model"):
        return _path_editor(spec, parent)
    line = QLineEdit(parent)
    editor = FieldEditor(line, line.text, lambda v: line.setText("" if v is None else str(v)))
    line.editingFinished.connect(editor.changed)
    return editor


def _set_within(spin: QSpinBox | QDoubleSpinBox, value: Any) -> None:
    """Show a loaded value as it is: the range guides typing, it never changes a loaded setting."""
    if value > spin.maximum():
        spin.setMaximum(value)
    if value < spin.minimum():
        spin.setMinimum(value)
    spin.setValue(value)


def _common_spin(spin: QAbstractSpinBox) -> None:
    spin.setKeyboardTracking(False)
    spin.setMinimumWidth(90)


def _float_editor(spec: FieldSpec, optional: bool, parent: QWidget | None) -> FieldEditor:
    spin: QDoubleSpinBox = SciSpinBox(parent) if spec.kind == "lr" else QDoubleSpinBox(parent)
    if spec.kind != "lr":
        spin.setDecimals(spec.decimals)
        spin.setSingleStep(spec.step)
    spin.setRange(spec.minimum, spec.maximum)
    _common_spin(spin)
    if optional:
        spin.setMinimum(-1)
        spin.setSpecialValueText("Same as learning rate")

        def get() -> float | None:
            return None if spin.value() < 0 else spin.value()

        def put(v: Any) -> None:
            spin.setValue(-1 if v is None else float(v))

        editor = FieldEditor(spin, get, put)
    else:
        editor = FieldEditor(spin, spin.value, lambda v: _set_within(spin, float(v)))
    spin.valueChanged.connect(editor.changed)
    return editor


def _enum_editor(key: str, enum_type: type[enum.Enum], optional: bool, parent: QWidget | None) -> FieldEditor:
    combo = QComboBox(parent)
    # Long labels must not make the whole form wider than its column.
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    if optional:
        combo.addItem(NONE_LABELS.get(key, "Automatic"), None)
    for member in enum_type:
        combo.addItem(ENUM_LABELS.get(member, str(member.value)), member.value)

    def put(value: Any) -> None:
        index = combo.findData(None if value is None else enum_type(value).value)
        combo.setCurrentIndex(max(0, index))

    def get() -> Any:
        # Qt hands a StrEnum back as a plain str: turn it into the member again.
        data = combo.currentData()
        return None if data is None else enum_type(data)

    editor = FieldEditor(combo, get, put)
    combo.currentIndexChanged.connect(editor.changed)
    return editor


def _path_editor(spec: FieldSpec, parent: QWidget | None) -> FieldEditor:
    box = QWidget(parent)
    line = QLineEdit(box)
    line.setPlaceholderText("Choose a folder…" if spec.kind == "folder" else "Choose a file…")
    browse = QPushButton("…", box)
    browse.setToolTip("Browse")
    browse.setFixedWidth(32)
    line.setMinimumWidth(80)
    box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(line, 1)
    row.addWidget(browse)
    editor = FieldEditor(box, line.text, lambda v: line.setText(str(v or "")))
    editor.setProperty("line", line)

    def choose() -> None:
        if spec.kind == "folder":
            path = QFileDialog.getExistingDirectory(box, spec.label, line.text())
        else:
            filters = "Models (*.safetensors *.ckpt);;All files (*)"
            path, _ = QFileDialog.getOpenFileName(box, spec.label, line.text(), filters)
        if path:
            line.setText(path)
            editor.changed.emit()

    browse.clicked.connect(choose)
    line.editingFinished.connect(editor.changed)
    return editor


def _prompts_editor(parent: QWidget | None) -> FieldEditor:
    prompts = SamplePromptsEditor(parent)
    editor = FieldEditor(prompts, prompts.prompts, prompts.set_prompts)
    prompts.changed.connect(editor.changed)
    return editor


def _kwargs_editor(parent: QWidget | None) -> FieldEditor:
    line = QLineEdit(parent)
    line.setPlaceholderText("key=value, key=value")

    def get() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for part in line.text().split(","):
            if "=" not in part:
                continue
            k, v = (s.strip() for s in part.split("=", 1))
            out[k] = _literal(v)
        return out

    def put(value: Any) -> None:
        line.setText(", ".join(f"{k}={_show(v)}" for k, v in (value or {}).items()))

    editor = FieldEditor(line, get, put)
    line.editingFinished.connect(editor.changed)
    return editor


def _literal(text: str) -> Any:
    words = shlex.split(text) if " " in text else [text]
    vals = []
    for w in words:
        low = w.lower()
        if low in ("true", "false"):
            vals.append(low == "true")
            continue
        try:
            vals.append(int(w))
        except ValueError:
            try:
                vals.append(float(w))
            except ValueError:
                vals.append(w)
    return vals[0] if len(vals) == 1 else vals


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)
