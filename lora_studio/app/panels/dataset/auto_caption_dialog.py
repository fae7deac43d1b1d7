"""The "Auto-caption…" dialog: pick a captioning model, its options, how to combine the new text
with existing captions and which pictures; run it in a worker with live preview and Cancel.

The run never writes on its own: the worker returns a report whose ``edit`` is pushed on the app's
caption history here, in the GUI thread, so one Undo restores every caption it changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.caption_history import CaptionHistory
from lora_studio.app.desktop import open_folder
from lora_studio.app.panels.dataset.caption_options_widget import CaptionOptionsWidget
from lora_studio.app.panels.dataset.caption_run import CaptionRun
from lora_studio.app.panels.dataset.caption_target_widget import CaptionScope, CaptionTargetBox
from lora_studio.app.state import AppContext
from lora_studio.app.workers.worker import Worker
from lora_studio.captioning.base import (
    ModelFolder,
    OutputKind,
    SentenceOptions,
    TaggerOptions,
    captioner_specs,
    find_model_folders,
    get_spec,
    missing_model_message,
)
from lora_studio.captioning.runner import (
    CaptionMode,
    CaptionRunReport,
)

log = logging.getLogger(__name__)

FOLDER_ROLE = Qt.ItemDataRole.UserRole + 1


class AutoCaptionDialog(QDialog):
    """Runs one captioning job at a time; stays open afterwards to show what happened."""

    applied = Signal(str)  # the run's summary, after its edit was pushed on the history

    def __init__(
        self,
        context: AppContext,
        history: CaptionHistory,
        scopes: Sequence[CaptionScope],
        triggers: dict[str, str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-caption pictures")
        self.context = context
        self.history = history
        self.scopes = list(scopes)
        self.triggers = dict(triggers)
        self.run = CaptionRun(self)
        self._build()
        self.reload_models()
        self.resize(980, 640)

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        intro = QLabel(
            "Let a captioning model describe your pictures. Nothing is saved until it has finished, "
            "and one Undo (Ctrl+Z) puts every caption back."
        )
        intro.setWordWrap(True)

        # Model
        self.model_list = QListWidget()
        self.model_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.model_list.setWordWrap(True)
        self.model_list.setMinimumHeight(80)
        self.model_list.currentItemChanged.connect(self._on_model_changed)
        self.missing_label = QLabel()
        self.missing_label.setWordWrap(True)
        self.missing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_problem = QLabel()
        self.model_problem.setWordWrap(True)
        self.model_problem.setProperty("muted", True)
        self.model_problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = QPushButton("Open the captioners folder")
        self.open_folder_button.clicked.connect(self.open_captioners_folder)
        self.refresh_button = QPushButton("Look again")
        self.refresh_button.setToolTip("Search the captioners folder again after adding a model")
        self.refresh_button.clicked.connect(self._look_again)
        model_buttons = QHBoxLayout()
        model_buttons.addWidget(self.open_folder_button)
        model_buttons.addWidget(self.refresh_button)
        model_buttons.addStretch(1)
        model_box = QGroupBox("Model")
        mb = QVBoxLayout(model_box)
        mb.addWidget(self.model_list, 1)
        mb.addWidget(self.model_problem)
        mb.addWidget(self.missing_label)
        mb.addLayout(model_buttons)

        # Options: one page per kind of output
        self.options_stack = CaptionOptionsWidget()
        self.exclude_tags, self.general_threshold = (
            self.options_stack.exclude_tags,
            self.options_stack.general_threshold,
        )
        options_box = QGroupBox("Options")
        QVBoxLayout(options_box).addWidget(self.options_stack)

        # What to change
        what_box = CaptionTargetBox(self.scopes, self._update_start)
        self.target = what_box
        self.mode, self.scope_group, self.scope_buttons = what_box.mode, what_box.scope_group, what_box.scope_buttons
        self.keep_trigger, self.mask_mode = what_box.keep_trigger, what_box.mask_mode

        left = QVBoxLayout()
        left.addWidget(model_box, 1)
        left.addWidget(options_box)
        left.addWidget(what_box)

        # Run: preview, progress, buttons
        self.preview = QTableWidget(0, 2)
        self.preview.setHorizontalHeaderLabels(["Picture", "Caption to be saved"])
        self.preview.verticalHeader().hide()
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.setWordWrap(True)
        self.preview.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.preview.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel("Pick a model and press Start.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.start_button = QPushButton("Start")
        self.start_button.setProperty("primary", True)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setToolTip(
            "Stop after the current pictures; those finished keep their new captions"
        )
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        right = QVBoxLayout()
        heading = QLabel("Preview")
        heading.setStyleSheet("font-weight: 600;")
        right.addWidget(heading)
        right.addWidget(self.preview, 1)
        right.addWidget(self.status)
        right.addWidget(self.progress)
        right.addLayout(buttons)

        columns = QHBoxLayout()
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(440)
        left.setContentsMargins(0, 0, 0, 0)
        columns.addWidget(left_widget)
        columns.addLayout(right, 1)
        outer = QVBoxLayout(self)
        outer.addWidget(intro)
        outer.addLayout(columns, 1)

    # -- models --------------------------------------------------------------------------------
    def captioner_folders(self) -> list[Path]:
        return self.context.settings.captioner_folders()

    @Slot()
    def reload_models(self) -> None:
        current = self.selected_folder()
        self.model_list.clear()
        folders = find_model_folders(self.captioner_folders())
        for folder in folders:
            kind = get_spec(folder.kind).output.value if folder.kind else "unknown"
            text = f"{folder.label}  [{'tags' if kind == OutputKind.TAGS else 'sentence'}]"
            if folder.problem:
                text += f"\nCan't be used yet: {folder.problem}"
            item = QListWidgetItem(text)
            item.setData(FOLDER_ROLE, folder)
            item.setToolTip(str(folder.path))
            if not folder.usable:
                item.setForeground(self.palette().placeholderText())
            self.model_list.addItem(item)
        self.model_list.setVisible(bool(folders))
        self.missing_label.setVisible(not folders)
        self.missing_label.setText(self.missing_text() if not folders else "")
        usable = [i for i in range(self.model_list.count()) if self._folder_at(i).usable]
        pick = next(
            (i for i in usable if current is not None and self._folder_at(i).path == current.path),
            usable[0] if usable else (0 if folders else -1),
        )
        self.model_list.setCurrentRow(pick)
        self._on_model_changed()

    def _look_again(self) -> None:
        """The "Look again" button: search, then say so (the list may well be the same as before)."""
        self.reload_models()
        n = self.model_list.count()
        found = f"{n} model{'s' * (n != 1)} found." if n else "no captioning model yet."
        label = self.model_problem if n else self.missing_label
        label.setText(
            f"Looked again ({time.strftime('%H:%M:%S')}): {found}"
            + (f"\n\n{label.text()}" if label.text() else "")
        )
        label.setVisible(True)

    def missing_text(self) -> str:
        """What to do when no model is installed: the files for each kind, in plain words."""
        root = self.captioner_folders()[0]
        lines = [f"No captioning model was found in {root}.", ""]
        for spec in captioner_specs():
            lines.append(
                f"• {spec.label}: {missing_model_message(spec.kind, root / spec.default_folder_name)}"
            )
        lines += ["", "Then press “Look again”."]
        return "\n".join(lines)

    def _folder_at(self, i: int) -> ModelFolder:
        return self.model_list.item(i).data(FOLDER_ROLE)

    def selected_folder(self) -> ModelFolder | None:
        item = self.model_list.currentItem() if hasattr(self, "model_list") else None
        return item.data(FOLDER_ROLE) if item is not None else None

    @Slot()
    def open_captioners_folder(self) -> None:
        folder = self.captioner_folders()[0]
        if not open_folder(folder):
            self.status.setText(f"Couldn't open {folder}.")

    def _on_model_changed(self, *_: object) -> None:
        folder = self.selected_folder()
        self.model_problem.setText(folder.problem if folder is not None and folder.problem else "")
        self.model_problem.setVisible(bool(folder is not None and folder.problem))
        self.options_stack.show_for(folder)
        self._update_start()

    # -- the request ---------------------------------------------------------------------------
    def mode_value(self) -> CaptionMode:
        return self.target.mode_value()

    def scope(self) -> CaptionScope | None:
        return self.target.scope()

    def set_scope(self, key: str) -> None:
        self.target.set_scope(key)

    def start_blocked_reason(self) -> str:
        """Why Start can't be pressed now, in plain words ("" when it can)."""
        folder = self.selected_folder()
        scope = self.scope()
        if self.running:
            return "Captioning is running; press Stop to end it."
        if folder is None:
            return "No captioning model yet: put one in the captioners folder (see the left), then press “Look again”."
        if not folder.usable:
            return f"This model can't be used yet: {folder.problem}"
        if scope is None or not scope.rows:
            return "Choose which pictures to caption (under “What to change”)."
        return ""

    def _update_start(self) -> None:
        reason = self.start_blocked_reason()
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(
            reason or "Caption the chosen pictures; nothing is saved until it has finished"
        )
        if reason and not self.running:
            self.status.setText(reason)

    # -- running (CaptionRun does the work) --------------------------------------------------------
    def options(self) -> TaggerOptions | SentenceOptions:
        return self.options_stack.options(self.selected_folder())

    @property
    def running(self) -> bool:
        return self.run.worker is not None

    @property
    def worker(self) -> Worker | None:
        return self.run.worker

    @property
    def report(self) -> CaptionRunReport | None:
        return self.run.report

    @Slot()
    def start(self) -> bool:
        return self.run.start()

    @Slot()
    def cancel(self) -> None:
        self.run.cancel()

    def set_running(self, running: bool) -> None:
        """Lock the choices while a run goes on."""
        for w in (
            self.model_list,
            self.options_stack,
            self.mode,
            self.keep_trigger,
            self.mask_mode,
            self.refresh_button,
        ):
            w.setEnabled(not running)
        for b in self.scope_buttons.values():
            b.setEnabled(not running and bool(self.scopes[self.scope_group.id(b)].rows))
        self.cancel_button.setEnabled(running)
        self._update_start()

    # Closing while it runs stops the run; the pictures already done are still saved (one Undo).
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.cancel()
        super().closeEvent(event)

    def reject(self) -> None:
        self.cancel()
        super().reject()
