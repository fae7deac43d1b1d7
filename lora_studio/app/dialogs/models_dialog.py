"""The Models dialog: the captioning and masking models LoRA Studio can download, and their downloads.

This is the one place the app goes online, and only when the user presses Download (or Resume). Each
download runs in its own child process (``ProcessWorker`` around
:func:`lora_studio.captioning.download.download_job`), so the window stays responsive and the hub
library's offline switch of the app is never touched. Pause stops the child and keeps the partial
files; Resume (also after a restart of the app) continues them; Cancel deletes them.

One dialog per main window (:func:`show_models_dialog`), non-modal: closing it only hides it, and
downloads go on meanwhile.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.desktop import open_folder
from lora_studio.app.dialogs.model_row_widget import ModelRowWidget, RowState
from lora_studio.app.state import AppContext
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobBusyError
from lora_studio.app.workers.process_worker import ProcessWorker
from lora_studio.captioning.catalog import CatalogModel, catalog, format_size, get_model
from lora_studio.captioning.download import (
    DownloadResult,
    discard_partial,
    download_job,
    partial_progress,
)
from lora_studio.core.events import DownloadProgress, Event, StatusChanged
from lora_studio.core.settings import AppSettings

log = logging.getLogger(__name__)


class _Download(QObject):
    """One running download: receives its worker's signals on the GUI thread and updates its row."""

    def __init__(self, dialog: ModelsDialog, model: CatalogModel) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.model = model
        self.row = dialog.rows[model.name]
        self.after_stop = RowState.PAUSED  # what a stop means: Pause (keep the files) or Cancel
        self.worker = ProcessWorker(
            download_job(model.name, dialog.root()),
            name=f"Download of {model.label}",
            gpu=False,
            stop_grace_s=10.0,
            threads=1,
        )
        self.worker.event.connect(self.on_event)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        self.worker.cancelled.connect(self.on_cancelled)

    @Slot(Event)
    def on_event(self, event: Event) -> None:
        if self.row.state != RowState.DOWNLOADING:
            return  # pausing or cancelling: the last progress events don't undo that
        if isinstance(event, DownloadProgress):
            self.row.show_progress(event.bytes_done, event.bytes_total, event.files_done, event.files_total)
        elif isinstance(event, StatusChanged):
            self.row.show_state(RowState.DOWNLOADING, event.text)

    @Slot(object)
    def on_finished(self, result: DownloadResult) -> None:
        log.info("%s is installed in %s", self.model.name, result.folder)
        self.dialog.download_ended(self.model)
        self.dialog.model_installed.emit(self.model.name)

    @Slot(ErrorInfo)
    def on_failed(self, info: ErrorInfo) -> None:
        self.row.status.setToolTip(info.details)
        self.dialog.download_ended(self.model, f"{info.message} {info.hint}".strip(), failed=True)

    @Slot()
    def on_cancelled(self) -> None:
        if self.after_stop == RowState.NOT_INSTALLED:
            discard_partial(self.model, self.dialog.root())
        self.dialog.download_ended(self.model)

    def stop(self, then: RowState) -> None:
        self.after_stop = then
        self.row.show_state(RowState.CANCELLING if then == RowState.NOT_INSTALLED else RowState.PAUSING)
        self.worker.cancel()


class ModelsDialog(QDialog):
    model_installed = Signal(str)  # a model's name, after its download was put in place

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self.context = context
        self.downloads: dict[str, _Download] = {}

        intro = QLabel(
            "Captioning and masking models you can download. This is the only place LoRA Studio goes "
            "online, and only when you press Download. Pause keeps what was downloaded; Resume "
            "continues it, also after a restart. Every file is checked before it is used."
        )
        intro.setWordWrap(True)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setProperty("muted", True)
        self.rows: dict[str, ModelRowWidget] = {}
        rows = QVBoxLayout()
        for model in catalog():
            row = ModelRowWidget(model)
            row.download_clicked.connect(self.start_download)
            row.pause_clicked.connect(self.pause_download)
            row.cancel_clicked.connect(self.cancel_download)
            row.open_clicked.connect(self.open_model_folder)
            rows.addWidget(row)
            self.rows[model.name] = row
        rows.addStretch(1)
        inner = QWidget()
        inner.setLayout(rows)
        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)

        self.open_root_button = QPushButton("Open the captioners folder")
        self.open_root_button.setToolTip("Where downloaded models go; models you copy there by hand work too")
        self.open_root_button.clicked.connect(lambda: self._open(self.root()))
        self.refresh_button = QPushButton("Look again")
        self.refresh_button.setToolTip("Check again which models are installed (after copying files by hand)")
        self.refresh_button.clicked.connect(self._look_again)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Downloads go on while the dialog is closed")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_root_button)
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.folder_label)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        self.resize(900, 680)
        context.settings_changed.connect(self._on_settings_changed)
        self.refresh()

    def root(self) -> Path:
        """The captioners folder downloads go into (the first one of the settings)."""
        return self.context.settings.captioner_folders()[0]

    # -- states ----------------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Show each model's state as found on disk (downloads that run keep theirs)."""
        root = self.root()
        self.folder_label.setText(f"Models go into {root}")
        for name, row in self.rows.items():
            if name not in self.downloads:
                self._show_disk_state(row)

    @Slot(AppSettings)
    def _on_settings_changed(self, _settings: AppSettings) -> None:
        self.refresh()  # another captioners folder: other models are installed there

    @Slot()
    def _look_again(self) -> None:
        """The "Look again" button: check, then say so (the states may well be the same as before)."""
        self.refresh()
        installed = sum(row.state == RowState.INSTALLED for row in self.rows.values())
        self.folder_label.setText(
            f"{self.folder_label.text()} — looked again at {time.strftime('%H:%M:%S')}: "
            f"{installed} of {len(self.rows)} installed."
        )

    def _show_disk_state(self, row: ModelRowWidget, text: str = "", *, failed: bool = False) -> None:
        model, root = row.model, self.root()
        partial = partial_progress(model, root)
        if model.installed_in(root / model.name) and not failed:
            size = sum(p.stat().st_size for p in (root / model.name).rglob("*") if p.is_file())
            row.show_state(RowState.INSTALLED, text or f"Installed ({format_size(size)})")
        elif partial is not None:
            done, total = partial
            fraction = done / total if total else 0.0
            state = RowState.FAILED if failed else RowState.PAUSED
            words = text or f"Paused at {fraction:.0%} ({format_size(done)} of {format_size(total)})"
            row.show_state(state, words, fraction)
        else:
            row.show_state(RowState.FAILED if failed else RowState.NOT_INSTALLED, text)

    def state_of(self, name: str) -> RowState:
        return self.rows[name].state

    # -- actions ---------------------------------------------------------------------------------
    @Slot(str)
    def start_download(self, name: str) -> None:
        if name in self.downloads:
            return
        model = get_model(name)
        row = self.rows[name]
        row.status.setToolTip("")
        download = _Download(self, model)
        self.downloads[name] = download
        row.show_state(RowState.DOWNLOADING)
        try:
            self.context.jobs.start(download.worker)
        except JobBusyError as exc:  # (downloads are not graphics-card jobs; kept for safety)
            self.downloads.pop(name).deleteLater()
            self._show_disk_state(row, str(exc), failed=True)
            return
        log.info("Downloading %s from %s", model.name, model.repo)

    @Slot(str)
    def pause_download(self, name: str) -> None:
        if (download := self.downloads.get(name)) is not None:
            download.stop(RowState.PAUSED)

    @Slot(str)
    def cancel_download(self, name: str) -> None:
        download = self.downloads.get(name)
        if download is not None:
            download.stop(RowState.NOT_INSTALLED)
            return
        discard_partial(get_model(name), self.root())  # a paused one: nothing runs, just delete
        self._show_disk_state(self.rows[name])

    def download_ended(self, model: CatalogModel, text: str = "", *, failed: bool = False) -> None:
        download = self.downloads.pop(model.name, None)
        if download is not None:
            download.deleteLater()
        self._show_disk_state(self.rows[model.name], text, failed=failed)

    @Slot(str)
    def open_model_folder(self, name: str) -> None:
        folder = self.root() / name
        self._open(folder if folder.is_dir() else self.root())

    def _open(self, folder: Path) -> None:
        if not open_folder(folder):
            self.folder_label.setText(f"Couldn't open {folder}.")

    def focus_kind(self, kind: str) -> ModelRowWidget | None:
        """Scroll to the first model of a captioner/masker family (``"florence2"``), if there is one."""
        row = next((r for r in self.rows.values() if r.model.kind == kind), None)
        if row is not None:
            self.scroll.ensureWidgetVisible(row)
            button = row.download_button if row.download_button.isVisible() else row.open_button
            button.setFocus()
        return row

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        self.refresh()
        super().showEvent(event)


def show_models_dialog(context: AppContext, parent: QWidget, kind: str = "") -> ModelsDialog:
    """Show the one Models dialog of ``parent``'s main window (made on first use), non-modal; with
    ``kind`` (a captioner family, as the Auto-caption dialog's ``models_requested`` gives it), at the
    first model of that family."""
    top = parent
    while top.parentWidget() is not None:
        top = top.parentWidget()
    dialog = top.findChild(ModelsDialog, "modelsDialog")
    if dialog is None:
        dialog = ModelsDialog(context, top)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    if kind:
        dialog.focus_kind(kind)
    return dialog
