"""One model in the Models dialog: what it is, its state, a progress bar and the buttons that apply."""

from __future__ import annotations

import enum

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from lora_studio.captioning.catalog import CatalogModel, Task, format_size

TASK_LABELS = {Task.TAGS: "tags", Task.CAPTION: "captions", Task.MASK: "masks"}


class RowState(enum.StrEnum):
    NOT_INSTALLED = "not_installed"
    INSTALLED = "installed"
    DOWNLOADING = "downloading"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    FAILED = "failed"


class ModelRowWidget(QFrame):
    """Shows one catalogue entry. The buttons only ask (signals); the dialog does the work."""

    download_clicked = Signal(str)  # the model's name (Download and Resume)
    pause_clicked = Signal(str)
    cancel_clicked = Signal(str)
    open_clicked = Signal(str)

    def __init__(self, model: CatalogModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.state = RowState.NOT_INSTALLED
        self.setObjectName(f"model-{model.name}")
        self.setFrameShape(QFrame.Shape.StyledPanel)

        title = QLabel(f"<b>{model.label}</b> — {TASK_LABELS[model.task]}")
        self.size_label = QLabel(f"about {format_size(model.approx_size)}")
        self.size_label.setProperty("muted", True)
        good_for = QLabel(model.good_for)
        good_for.setWordWrap(True)
        link = f'<a href="{model.licence_url}">{model.licence}</a>' if model.licence_url else model.licence
        licence = QLabel(f'Licence: {link} · <a href="{model.page_url}">{model.repo}</a>')
        licence.setWordWrap(True)
        licence.setOpenExternalLinks(True)  # opens the user's browser; the app itself stays offline
        licence.setProperty("muted", True)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)

        self.download_button = QPushButton("Download")
        self.download_button.setToolTip(f"Download {model.label} ({model.repo}) into its folder")
        self.download_button.clicked.connect(lambda: self.download_clicked.emit(model.name))
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop for now and keep what was downloaded; Resume continues")
        self.pause_button.clicked.connect(lambda: self.pause_clicked.emit(model.name))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the download where it stopped")
        self.resume_button.clicked.connect(lambda: self.download_clicked.emit(model.name))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop and delete what was downloaded of this model")
        self.cancel_button.clicked.connect(lambda: self.cancel_clicked.emit(model.name))
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip(f"Show models/captioners/{model.name} (you can also put the files there)")
        self.open_button.clicked.connect(lambda: self.open_clicked.emit(model.name))
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for button in (
            self.download_button,
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.open_button,
        ):
            buttons.addWidget(button)

        grid = QGridLayout(self)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.addWidget(title, 0, 0)
        grid.addWidget(self.size_label, 0, 1)
        grid.addWidget(good_for, 1, 0)
        grid.addWidget(self.status, 1, 1)
        grid.addWidget(licence, 2, 0)
        grid.addWidget(self.progress, 2, 1)
        grid.addLayout(buttons, 3, 0, 1, 2, Qt.AlignmentFlag.AlignRight)

    # -- showing a state ---------------------------------------------------------------------------
    def show_state(self, state: RowState, text: str = "", fraction: float | None = None) -> None:
        """Show ``state`` with the buttons that apply to it; ``text`` replaces the default words."""
        self.state = state
        defaults = {
            RowState.NOT_INSTALLED: "Not installed",
            RowState.INSTALLED: "Installed",
            RowState.DOWNLOADING: "Starting the download…",
            RowState.PAUSING: "Pausing…",
            RowState.PAUSED: "Paused",
            RowState.CANCELLING: "Cancelling…",
            RowState.FAILED: "The download stopped.",
        }
        self.status.setText(text or defaults[state])
        self.status.setStyleSheet("color: #d9534f;" if state == RowState.FAILED else "")
        busy = state in (RowState.DOWNLOADING, RowState.PAUSING, RowState.CANCELLING)
        has_part = state in (RowState.PAUSED, RowState.FAILED) and fraction is not None
        self.download_button.setVisible(state in (RowState.NOT_INSTALLED, RowState.FAILED) and not has_part)
        self.resume_button.setVisible(has_part)
        self.pause_button.setVisible(state == RowState.DOWNLOADING)
        self.cancel_button.setVisible(state == RowState.DOWNLOADING or has_part)
        self.progress.setVisible(busy or has_part)
        if fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        elif state == RowState.DOWNLOADING:
            self.progress.setRange(0, 0)  # moving to and fro until the first bytes arrive

    def show_progress(self, done: int, total: int, files_done: int, files_total: int) -> None:
        fraction = done / total if total else 0.0
        self.show_state(
            RowState.DOWNLOADING,
            f"Downloading: {format_size(done)} of {format_size(total)} "
            f"(file {min(files_done + 1, files_total)} of {files_total})",
            fraction,
        )
