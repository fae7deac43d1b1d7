"""About LoRA Studio: version, versions of the parts it is built on, where its files are."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio import __version__
from lora_studio.app.app_icon import app_pixmap
from lora_studio.app.diagnostics import folder_rows, version_rows
from lora_studio.app.state import AppContext


class AboutDialog(QDialog):
    copy_diagnostics_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About LoRA Studio")
        self.setMinimumWidth(560)

        logo = QLabel()
        logo.setPixmap(app_pixmap(72))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel("LoRA Studio")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        tagline = QLabel(
            f"Version {__version__}<br>From a folder of pictures to a tested Stable Diffusion LoRA."
        )
        tagline.setWordWrap(True)
        heading = QVBoxLayout()
        heading.setSpacing(4)
        heading.addWidget(title)
        heading.addWidget(tagline)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(heading, 1)

        facts = QFormLayout()
        facts.setHorizontalSpacing(16)
        facts.setVerticalSpacing(6)
        facts.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        device = context.device
        rows = version_rows()[1:] + [("Device", device.summary if device else "not checked yet")]
        for name, value in rows + folder_rows(context)[:2]:
            label = QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            facts.addRow(_muted(name), label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = copy_button = QPushButton("Copy diagnostics")
        copy_button.setToolTip("Copy versions, folders, the device and recent log lines, for a bug report")
        copy_button.clicked.connect(self._on_copy_clicked)
        buttons.addButton(copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_status = QLabel()
        self.copy_status.setWordWrap(True)
        self.copy_status.setVisible(False)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 16)
        layout.setSpacing(18)
        layout.addLayout(top)
        layout.addLayout(facts)
        layout.addStretch(1)
        layout.addWidget(self.copy_status)
        layout.addWidget(buttons)

    def _on_copy_clicked(self) -> None:
        self.copy_button.setEnabled(False)
        self.show_copy_status("Gathering diagnostics…")
        self.copy_diagnostics_requested.emit()

    def show_copied(self) -> None:
        self.copy_button.setEnabled(True)
        self.show_copy_status("Copied to the clipboard. Paste it into your bug report.")

    def show_copy_failed(self) -> None:
        self.copy_button.setEnabled(True)
        self.show_copy_status("Couldn't gather the diagnostics (see the message).")

    def show_copy_status(self, text: str) -> None:
        self.copy_status.setText(text)
        self.copy_status.setVisible(True)


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("muted", True)
    return label
