"""Edits AppSettings: model folders, output folder, theme and device."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.theme import THEME_LABELS
from lora_studio.app.widgets.folder_list_widget import FolderListWidget
from lora_studio.core.settings import AppSettings, Theme

DEVICE_LABELS: dict[str, str] = {
    "auto": "Automatic (the graphics card when there is one)",
    "cuda": "NVIDIA graphics card",
    "cpu": "Processor only (very slow; for trying things out)",
}


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumSize(660, 560)
        self._original = settings
        defaults = AppSettings()

        self.checkpoints = FolderListWidget(defaults.checkpoint_folders()[0], "Folder with base models")
        self.loras = FolderListWidget(defaults.lora_folders()[0], "Folder with LoRA files")
        self.captioners = FolderListWidget(defaults.captioner_folders()[0], "Folder with captioning models")
        self.checkpoints.set_folders(settings.checkpoint_dirs)
        self.loras.set_folders(settings.lora_dirs)
        self.captioners.set_folders(settings.captioner_dirs)

        models_page = QWidget()
        models_layout = QVBoxLayout(models_page)
        models_layout.setContentsMargins(16, 16, 16, 16)
        models_layout.setSpacing(12)
        intro = QLabel(
            "Tell LoRA Studio where your model files are. You can add folders you already use with "
            "other programs; nothing is copied or moved."
        )
        intro.setWordWrap(True)
        models_layout.addWidget(intro)
        for title, widget in (
            ("Base models (checkpoints, .safetensors)", self.checkpoints),
            ("LoRA files", self.loras),
            ("Captioning models", self.captioners),
        ):
            models_layout.addWidget(_group(title, widget))
        models_layout.addStretch(1)

        self.output_edit = QLineEdit(settings.output_dir)
        self.output_edit.setPlaceholderText(str(defaults.output_folder()))
        self.output_edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(browse)
        output_box = QVBoxLayout()
        output_box.setSpacing(4)
        output_box.addLayout(output_row)
        output_box.addWidget(_muted("Leave empty to use the folder shown in grey."))

        self.theme_box = QComboBox()
        for theme, label in THEME_LABELS.items():
            self.theme_box.addItem(label, theme.value)
        self.theme_box.setCurrentIndex(max(0, self.theme_box.findData(settings.theme.value)))

        self.device_box = QComboBox()
        for value, label in DEVICE_LABELS.items():
            self.device_box.addItem(label, value)
        if self.device_box.findData(settings.device) < 0:  # e.g. "cuda:1", set by hand
            self.device_box.addItem(f"Graphics card {settings.device}", settings.device)
        self.device_box.setCurrentIndex(self.device_box.findData(settings.device))

        general_page = QWidget()
        form = QFormLayout(general_page)
        form.setContentsMargins(16, 18, 16, 16)
        form.setVerticalSpacing(16)
        form.setHorizontalSpacing(16)
        form.addRow("Save pictures and LoRAs in:", output_box)
        form.addRow("Appearance:", self.theme_box)
        form.addRow("Train and generate on:", self.device_box)

        tabs = QTabWidget()
        tabs.setDocumentMode(True)
        tabs.addTab(general_page, "General")
        tabs.addTab(models_page, "Model folders")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(12)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)

    def _browse_output(self) -> None:
        start = self.output_edit.text() or self.output_edit.placeholderText()
        folder = QFileDialog.getExistingDirectory(self, "Where to save pictures and LoRAs", start)
        if folder:
            self.output_edit.setText(str(Path(folder)))

    def edited_settings(self) -> AppSettings:
        """The settings as edited in the dialog (the caller saves them)."""
        return dataclasses.replace(
            self._original,
            checkpoint_dirs=tuple(self.checkpoints.folders()),
            lora_dirs=tuple(self.loras.folders()),
            captioner_dirs=tuple(self.captioners.folders()),
            output_dir=self.output_edit.text().strip(),
            theme=Theme(self.theme_box.currentData()),
            device=str(self.device_box.currentData()),
        )


def _group(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(10, 10, 10, 10)
    layout.addWidget(widget)
    return box


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("muted", True)
    return label
