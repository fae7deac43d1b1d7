"""One LoRA in the mixer: enable box, name, strength slider + number, mismatch warning, info button;
for a run that saved several epochs, a choice of which epoch's file (one entry per run)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.observable import ObservableState, Prop, bind
from lora_studio.core.families import ModelFamily
from lora_studio.generation.lora_runs import run_file
from lora_studio.generation.model_library import LoraItem
from lora_studio.generation.request import LORA_WEIGHT_MAX, LORA_WEIGHT_MIN

WEIGHT_STEP = 0.05  # one wheel notch or arrow key
FINE_RANGE = (-0.5, 1.5)  # where people actually set a LoRA: the slider moves in 0.05 steps here
COARSE_STEP = 0.25  # and in quarter steps out to LORA_WEIGHT_MIN/MAX


def _weight_ticks() -> tuple[float, ...]:
    """The weights the slider's positions stand for: fine near the useful range, coarse outside it,
    so most of the slider's length covers 0..1 and a small drag is a small change."""
    low, high = FINE_RANGE
    below = [LORA_WEIGHT_MIN + i * COARSE_STEP for i in range(round((low - LORA_WEIGHT_MIN) / COARSE_STEP))]
    fine = [low + i * WEIGHT_STEP for i in range(round((high - low) / WEIGHT_STEP) + 1)]
    above = [high + (i + 1) * COARSE_STEP for i in range(round((LORA_WEIGHT_MAX - high) / COARSE_STEP))]
    return tuple(round(w, 2) for w in below + fine + above)


WEIGHT_TICKS = _weight_ticks()


def weight_to_position(weight: float) -> int:
    return min(range(len(WEIGHT_TICKS)), key=lambda i: abs(WEIGHT_TICKS[i] - weight))


def position_to_weight(position: int) -> float:
    return WEIGHT_TICKS[max(0, min(len(WEIGHT_TICKS) - 1, position))]


class WeightSlider(QSlider):
    """The strength slider: positions are :data:`WEIGHT_TICKS`; the wheel and the arrow keys ask for
    ±0.05 (``nudged``) and a double-click asks for the trained strength 1 (``reset_requested``)."""

    nudged = Signal(float)
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setRange(0, len(WEIGHT_TICKS) - 1)
        self.setSingleStep(1)
        self.setPageStep(5)
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        self._wheel_rest = 0

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        self._wheel_rest += event.angleDelta().y() or event.angleDelta().x()
        notches = int(self._wheel_rest / 120)
        self._wheel_rest -= notches * 120
        if notches:
            self.nudged.emit(notches * WEIGHT_STEP)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        step = {Qt.Key.Key_Right: 1, Qt.Key.Key_Up: 1, Qt.Key.Key_Left: -1, Qt.Key.Key_Down: -1}.get(
            Qt.Key(event.key())
        )
        if step is None:
            super().keyPressEvent(event)
            return
        self.nudged.emit(step * WEIGHT_STEP)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.reset_requested.emit()
        event.accept()


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow, instead of being cut off."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(self.foregroundRole()))
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)


class LoraRowState(ObservableState):
    """One row's values; the check box, the slider and the number box are bound to them."""

    enabled_changed = Signal(bool)
    enabled = Prop(False)
    weight_changed = Signal(float)
    weight = Prop(1.0)


class LoraRowWidget(QWidget):
    changed = Signal(str, bool, float)  # name, enabled, weight — only for the user's own edits
    info_requested = Signal(LoraItem)  # LoraItem

    def __init__(
        self,
        item: LoraItem,
        weight: float = 1.0,
        parent: QWidget | None = None,
        *,
        epochs: Sequence[LoraItem] = (),
    ) -> None:
        super().__init__(parent)
        self.item = item
        self.items = list(epochs) or [item]  # a run's files: final first, then the latest epochs
        self.setObjectName("loraRow")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        self.check = QCheckBox()
        self.check.setToolTip("Use this LoRA")
        self.name_label = ElidedLabel(item.name)
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.details_label = ElidedLabel()
        self.details_label.setProperty("muted", True)
        small = self.details_label.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.details_label.setFont(small)
        self.epoch_combo = QComboBox()
        self.epoch_combo.setToolTip(
            "This run saved several files: pick which epoch to use (final = the end of training)"
        )
        for i, member in enumerate(self.items):
            self.epoch_combo.addItem(run_file(member.name).label)
            self.epoch_combo.setItemData(i, f"{member.name}\n{member.path}", Qt.ItemDataRole.ToolTipRole)
        self.epoch_combo.setVisible(len(self.items) > 1)
        # Under the name, narrow ("epoch 12" wide): the list that opens shows the whole labels.
        self.epoch_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.epoch_combo.setMinimumContentsLength(8)
        # It doesn't widen the name column (the sliders of all rows line up); it narrows with it.
        self.epoch_combo.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.epoch_combo.setMinimumWidth(40)
        self.epoch_combo.setMaximumWidth(self.epoch_combo.sizeHint().width())
        self._describe()

        self.warning = QLabel()
        self.warning.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(16, 16)
        )
        self.warning.setVisible(False)
        keep = self.warning.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # its place stays: a warning doesn't push one slider right
        self.warning.setSizePolicy(keep)

        self.slider = WeightSlider()
        self.slider.setMinimumWidth(70)
        self.slider.setMaximumWidth(140)
        self.slider.setToolTip(
            "Strength: 1 = as trained, 0 = off, below 0 = the opposite. "
            "Wheel or arrow keys: ±0.05; double-click: back to 1"
        )
        self.spin = QDoubleSpinBox()
        self.spin.setRange(LORA_WEIGHT_MIN, LORA_WEIGHT_MAX)
        self.spin.setSingleStep(WEIGHT_STEP)
        self.spin.setDecimals(2)
        self.spin.setFixedWidth(64)
        self.spin.setToolTip(self.slider.toolTip())
        self.info_button = QToolButton()
        self.info_button.setText("i")
        self.info_button.setToolTip("What this LoRA is, how it was trained, and its trigger words")
        self.info_button.setFixedWidth(24)

        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(self.name_label)
        names.addWidget(self.details_label)
        epoch_line = QHBoxLayout()  # the stretch keeps the column's width free of the combo's maximum
        epoch_line.addWidget(self.epoch_combo, 1)
        epoch_line.addStretch(0)
        names.addLayout(epoch_line)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 3, 6, 3)
        row.setSpacing(6)
        row.addWidget(self.check)
        row.addLayout(names, 1)
        row.addWidget(self.warning)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        row.addWidget(self.info_button)

        self.state = LoraRowState(self)
        self._quiet = False  # True while set_state writes: only a person's edits emit `changed`
        self.set_state(False, weight)
        bind(self.state, "enabled", self.check, "checked")
        bind(self.state, "weight", self.spin, "value")
        bind(
            self.state,
            "weight",
            self.slider,
            "value",
            to_widget=weight_to_position,
            to_state=position_to_weight,
        )
        self.slider.nudged.connect(lambda delta: self._set_weight(self.state.weight + delta))
        self.slider.reset_requested.connect(lambda: self._set_weight(1.0))
        self.state.enabled_changed.connect(self._on_toggled)
        self.state.weight_changed.connect(self._on_weight)
        self.info_button.clicked.connect(lambda: self.info_requested.emit(self.item))
        self.epoch_combo.currentIndexChanged.connect(self._on_epoch_chosen)

    def _describe(self) -> None:
        item = self.item
        self.name_label.setText(item.name)
        self.name_label.setToolTip(f"{item.name}\n{item.path}")  # the whole name, however narrow the row
        details = [item.family.label if item.family else "base model unknown"]
        if item.epoch is not None and len(self.items) == 1:
            details.append(f"epoch {item.epoch}")
        if len(self.items) > 1:
            details.append(f"{len(self.items)} files of run “{run_file(item.name).run}”")
        if item.source == "project":
            details.append("from this project")
        self.details_label.setText(" · ".join(details))
        self.details_label.setToolTip(self.name_label.toolTip())

    # -- epochs of one run -----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [member.name for member in self.items]

    def show_file(self, name: str) -> bool:
        """Show the run's file called ``name`` (without emitting :attr:`changed`)."""
        index = next((i for i, m in enumerate(self.items) if m.name.lower() == name.strip().lower()), -1)
        if index < 0:
            return False
        self._quiet = True
        try:
            self.epoch_combo.setCurrentIndex(index)
        finally:
            self._quiet = False
        self._switch(index)
        return True

    def _switch(self, index: int) -> None:
        self.item = self.items[index]
        self._describe()

    def _on_epoch_chosen(self, index: int) -> None:
        if self._quiet or not 0 <= index < len(self.items) or self.items[index] is self.item:
            return
        old = self.item
        self._switch(index)
        if self.state.enabled:  # in use: the prompt's tag follows to the chosen file
            self.changed.emit(old.name, False, self.weight)
            self.changed.emit(self.item.name, True, self.weight)

    # -- state -----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.item.name

    @property
    def enabled(self) -> bool:
        return self.state.enabled

    @property
    def weight(self) -> float:
        return round(self.state.weight, 2)

    def set_state(self, enabled: bool, weight: float) -> None:
        """Set without emitting :attr:`changed` (used for syncing from the prompt)."""
        self._quiet = True
        try:
            self.state.weight = round(max(LORA_WEIGHT_MIN, min(LORA_WEIGHT_MAX, weight)), 2)
            self.state.enabled = enabled
        finally:
            self._quiet = False
        self._update_look()

    def set_model_family(self, family: ModelFamily | None) -> None:
        lora_family = self.item.family
        mismatch = family is not None and lora_family is not None and lora_family != family
        self.warning.setVisible(mismatch)
        if mismatch:
            assert lora_family is not None and family is not None
            self.warning.setToolTip(
                f"This LoRA was made for {lora_family.label}, but the chosen model is {family.label}. "
                "It will probably do nothing or spoil the picture."
            )

    @property
    def has_mismatch(self) -> bool:
        return not self.warning.isHidden()

    # -- user edits ------------------------------------------------------------------------------
    def _set_weight(self, weight: float) -> None:
        self.state.weight = round(max(LORA_WEIGHT_MIN, min(LORA_WEIGHT_MAX, weight)), 2)

    def _on_toggled(self, enabled: bool) -> None:
        self._update_look()
        if not self._quiet:
            self.changed.emit(self.name, enabled, self.weight)

    def _on_weight(self, _weight: float) -> None:
        if self._quiet:
            return
        if not self.state.enabled:  # moving a slider means "use it"
            self._quiet = True
            try:
                self.state.enabled = True
            finally:
                self._quiet = False
            self._update_look()
        self.changed.emit(self.name, True, self.weight)

    def _update_look(self) -> None:
        self.setProperty("active", self.state.enabled)
        self.style().unpolish(self)
        self.style().polish(self)
