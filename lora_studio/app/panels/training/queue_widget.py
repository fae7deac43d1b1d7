"""The list of queued training runs with their status and result."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.training.run_queue import QueueEntry, RunQueue, RunStatus

STATUS_COLORS = {
    RunStatus.WAITING: "#8b949e",
    RunStatus.RUNNING: "#3d7be0",
    RunStatus.FINISHED: "#2ea36b",
    RunStatus.FAILED: "#cf222e",
    RunStatus.STOPPED: "#d4a72c",
}


class QueueWidget(QWidget):
    problem_requested = Signal(QueueEntry)  # QueueEntry whose error the user wants to read

    def __init__(self, queue: RunQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        intro = QLabel(
            "Runs wait here and start one after another. A run that fails doesn't stop the ones after it. "
            "Use “Add to queue” to line up runs with different settings."
        )
        intro.setWordWrap(True)
        intro.setProperty("muted", True)
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        self.list.itemDoubleClicked.connect(self._on_double_click)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.start_button = QPushButton("Start queue")
        self.start_button.setProperty("primary", True)
        self.start_button.clicked.connect(queue.start)
        self.up_button = QPushButton("Move up")
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button = QPushButton("Move down")
        self.down_button.clicked.connect(lambda: self._move(1))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(queue.clear_done)
        row = QHBoxLayout()
        for b in (self.start_button, self.up_button, self.down_button, self.remove_button, self.clear_button):
            row.addWidget(b)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        queue.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        selected = self._selected()
        self.list.clear()
        for n, entry in enumerate(self.queue.entries, start=1):
            text = f"{n}. {entry.name}  —  {entry.status.value}"
            if entry.result and entry.status != RunStatus.WAITING:
                text += f"\n     {entry.result}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setForeground(QColor(STATUS_COLORS[entry.status]) if entry.status != RunStatus.WAITING else item.foreground())
            tip = entry.error.hint if entry.error else ""
            item.setToolTip((entry.result + ("\n\n" + tip if tip else "")) or "Waiting to start.")
            self.list.addItem(item)
            if entry is selected:
                item.setSelected(True)
        self.start_button.setEnabled(bool(self.queue.waiting()) and not self.queue.is_running)
        self._update_buttons()

    def _update_buttons(self) -> None:
        """Each button is enabled only when it would do something, and says when it would."""
        entries = self.queue.entries
        entry = self._selected()
        at = entries.index(entry) if entry in entries else -1
        for button, usable, tip in (
            (self.up_button, at > 0, "Start the selected run earlier (choose a run that is not first)"),
            (self.down_button, 0 <= at < len(entries) - 1, "Start the selected run later (choose one not last)"),
            (self.remove_button, at >= 0, "Take the selected run out of the queue (choose a run first)"),
            (
                self.clear_button,
                any(e.status not in (RunStatus.WAITING, RunStatus.RUNNING) for e in entries),
                "Remove the runs that have ended from the list (none has ended yet)",
            ),
        ):
            button.setEnabled(usable)
            button.setToolTip(tip)

    def _selected(self) -> QueueEntry | None:
        items = self.list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _move(self, offset: int) -> None:
        entry = self._selected()
        if entry is not None:
            self.queue.move(entry, offset)

    def _remove(self) -> None:
        entry = self._selected()
        if entry is not None:
            self.queue.remove(entry)

    def _on_double_click(self, item: QListWidgetItem) -> None:
        entry = item.data(Qt.ItemDataRole.UserRole)
        if entry is not None and entry.error is not None:
            self.problem_requested.emit(entry)
