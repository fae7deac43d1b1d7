"""A plain-words error dialog with expandable technical details and a "Copy details" button."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.workers.error_info import ErrorInfo


class ErrorDialog(QDialog):
    def __init__(self, info: ErrorInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle(info.title)
        self.setMinimumWidth(480)

        icon = QLabel()
        style_icon = QStyle.StandardPixmap.SP_MessageBoxWarning
        if not info.expected:
            style_icon = QStyle.StandardPixmap.SP_MessageBoxCritical
        icon.setPixmap(self.style().standardIcon(style_icon).pixmap(40, 40))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        message = QLabel(info.message)
        message.setWordWrap(True)
        message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = message.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        message.setFont(font)
        hint = QLabel(info.hint)
        hint.setWordWrap(True)
        hint.setVisible(bool(info.hint))

        text_column = QVBoxLayout()
        text_column.setSpacing(8)
        text_column.addWidget(message)
        text_column.addWidget(hint)
        text_column.addStretch(1)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(icon)
        top.addLayout(text_column, 1)

        self.details = QPlainTextEdit(info.details)
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setMinimumHeight(180)
        self.details.setVisible(False)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        self.toggle_button = QPushButton("Show details")
        self.toggle_button.setCheckable(True)
        self.toggle_button.toggled.connect(self._show_details)
        self.copy_button = QPushButton("Copy details")
        self.copy_button.clicked.connect(self.copy_details)
        for button in (self.toggle_button, self.copy_button):
            button.setVisible(bool(info.details))
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(14)
        layout.addLayout(top)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.toggle_button.setText("Hide details" if shown else "Show details")
        self.adjustSize()

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.info.plain_text())
        self.copy_button.setText("Copied")


def show_error(info: ErrorInfo, parent: QWidget | None = None) -> None:
    """Show ``info`` modally. The one place the app opens an error dialog (tests patch it)."""
    ErrorDialog(info, parent).exec()
