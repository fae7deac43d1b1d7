"""The log view: recent log lines with a level filter, copy and clear.

Log records come from any thread (workers log too). The ring handler calls our listener on that
thread; the listener only emits a signal, which Qt queues to the GUI thread.
"""

from __future__ import annotations

import collections
import logging

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.core.log import RingHandler

MAX_LINES = 5000
LEVELS: tuple[tuple[str, int], ...] = (
    ("Everything", logging.DEBUG),
    ("Information", logging.INFO),
    ("Warnings", logging.WARNING),
    ("Errors only", logging.ERROR),
)


class _LogBridge(QObject):
    line_logged = Signal(str, int)


class LogWidget(QWidget):
    def __init__(self, ring: RingHandler | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ring = ring
        self._lines: collections.deque[tuple[str, int]] = collections.deque(maxlen=MAX_LINES)
        self._bridge = _LogBridge()
        self._bridge.line_logged.connect(self.append_line, Qt.ConnectionType.QueuedConnection)

        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setPlaceholderText("Nothing logged yet.")

        self.level_box = QComboBox()
        for label, level in LEVELS:
            self.level_box.addItem(label, level)
        self.level_box.setCurrentIndex(1)
        self.level_box.currentIndexChanged.connect(self._refilter)
        self.copy_button = copy_button = QPushButton("Copy")
        copy_button.setToolTip("Copy the lines shown to the clipboard")
        copy_button.clicked.connect(self.copy_to_clipboard)
        clear_button = QPushButton("Clear")
        clear_button.setToolTip("Clear this view (the log file keeps everything)")
        clear_button.clicked.connect(self.clear)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.level_box)
        bar.addStretch(1)
        bar.addWidget(copy_button)
        bar.addWidget(clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(bar)
        layout.addWidget(self.view)

        if ring is not None:
            for text in ring.tail(MAX_LINES):
                self._lines.append((text, _level_of(text)))
            self._refilter()
            listener = self._on_record
            ring.add_listener(listener)
            # The lambda holds no reference to self, so it still works while self is being destroyed.
            self.destroyed.connect(lambda *_: ring.remove_listener(listener))

    @property
    def min_level(self) -> int:
        return int(self.level_box.currentData())

    def set_min_level(self, level: int) -> None:
        index = self.level_box.findData(level)
        if index >= 0:
            self.level_box.setCurrentIndex(index)

    def text(self) -> str:
        return self.view.toPlainText()

    def _on_record(self, text: str, level: int) -> None:
        # Any thread: only hand the line over.
        self._bridge.line_logged.emit(text, level)

    @Slot(str, int)
    def append_line(self, text: str, level: int) -> None:
        self._lines.append((text, level))
        if level >= self.min_level:
            self._append_to_view(text, level)

    def _append_to_view(self, text: str, level: int) -> None:
        fmt = QTextCharFormat()
        if level >= logging.ERROR:
            fmt.setForeground(Qt.GlobalColor.red)
        elif level >= logging.WARNING:
            fmt.setForeground(Qt.GlobalColor.darkYellow)
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        cursor = QTextCursor(self.view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self.view.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(text, fmt)
        if at_bottom:
            bar.setValue(bar.maximum())

    def _refilter(self) -> None:
        self.view.clear()
        for text, level in self._lines:
            if level >= self.min_level:
                self._append_to_view(text, level)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
        self.copy_button.setText("Copied ✓")
        QTimer.singleShot(2500, lambda: self.copy_button.setText("Copy"))

    def clear(self) -> None:
        self._lines.clear()
        self.view.clear()

    def detach(self) -> None:
        """Stop listening to the log (the window calls this when it closes)."""
        if self._ring is not None:
            self._ring.remove_listener(self._on_record)
            self._ring = None


def _level_of(text: str) -> int:
    """Recover the level of a formatted ring line ("12:00:01 WARNING name: text")."""
    parts = text.split(maxsplit=2)
    if len(parts) >= 2:
        level = logging.getLevelName(parts[1])
        if isinstance(level, int):
            return level
    return logging.INFO
