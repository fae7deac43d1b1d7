"""Before start: every problem of the settings at once, and whether it fits in graphics memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.field_specs import spec_for
from lora_studio.training.vram_estimate import VramEstimate

if TYPE_CHECKING:
    from lora_studio.training.validation import Issue


class PreflightWidget(QWidget):
    field_requested = Signal(str)  # a dotted field key the user wants to fix

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vram_label = QLabel()
        self.vram_label.setWordWrap(True)
        self.vram_label.setTextFormat(Qt.TextFormat.RichText)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setWordWrap(True)
        self.list.itemActivated.connect(self._on_activated)
        self.list.itemClicked.connect(self._on_activated)
        self.list.setToolTip("Click a problem to go to its setting.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        # A measured fit (a few real steps on the card) replaces the formula's guess.
        self.fit_label = QLabel()
        self.fit_label.setWordWrap(True)
        self.fit_button = QPushButton("Measure fit")
        self.set_fit_available(False)
        fit_row = QHBoxLayout()
        fit_row.addWidget(self.fit_label, 1)
        fit_row.addWidget(self.fit_button)
        layout.addWidget(self.vram_label)
        layout.addLayout(fit_row)
        layout.addWidget(self.list)
        self.issues: list[Issue] = []

    def show_issues(self, issues: list[Issue]) -> None:
        self.issues = list(issues)
        self.list.clear()
        style = self.style()
        errors = [i for i in issues if i.is_error]
        warnings = [i for i in issues if not i.is_error]
        for issue in errors + warnings:
            name = spec_for(issue.field).label if "." in issue.field else issue.field.title()
            item = QListWidgetItem(f"{name}: {issue.message}")
            icon = QStyle.StandardPixmap.SP_MessageBoxCritical if issue.is_error else QStyle.StandardPixmap.SP_MessageBoxWarning
            item.setIcon(style.standardIcon(icon))
            item.setData(Qt.ItemDataRole.UserRole, issue.field)
            self.list.addItem(item)
        if not issues:
            item = QListWidgetItem("No problems found. Ready to train.")
            item.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton))
            self.list.addItem(item)
        self.list.setMaximumHeight(min(150, 26 * max(1, len(issues)) + 8))

    def show_vram(self, estimate: VramEstimate) -> None:
        color = "#cf222e" if not estimate.fits else ("#b7791f" if estimate.tight else "#2ea36b")
        parts = ", ".join(f"{name} {gb:.1f}" for name, gb in estimate.parts)
        text = f'<span style="color:{color}; font-weight:600">{estimate.summary()}</span>'
        if not estimate.fits:
            text += "<br>Turn on “Save memory”, lower the batch size or resolution, or use AdamW 8-bit."
        self.vram_label.setText(text)
        self.vram_label.setToolTip(f"Rough estimate (±30%): {parts} GB.")

    def set_fit_available(self, available: bool) -> None:
        self.fit_button.setEnabled(available)
        self.fit_button.setToolTip(
            "Train a few steps on the graphics card, measure memory and speed, and switch on the "
            "cheapest memory savers that fit (fp8 weights, block swapping, …)."
            if available
            else "Needs an NVIDIA graphics card: without one the memory shown is the formula's estimate."
        )

    def show_fit(self, text: str, fits: bool) -> None:
        color = "#2ea36b" if fits else "#cf222e"
        self.fit_label.setText(f'<span style="color:{color}; font-weight:600">{text}</span>')

    def _on_activated(self, item: QListWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        if key:
            self.field_requested.emit(str(key))
