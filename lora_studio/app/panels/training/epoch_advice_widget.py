"""The epoch advisor's answer: the recommended file with the reason, and the ranking as a table."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lora_studio.training.advisor import Advice

COLUMNS = ("File", "Validation loss", "Changes without trigger", "Jumps across weights", "Verdict")
EMPTY_TEXT = (
    "After a run, press “Which epoch should I keep?”: every saved file is judged on its validation loss, "
    "on how much it changes pictures that don't name the trigger word, and on how steady it is between "
    "weights 0.6 and 1.0."
)
KEEP_COLOUR = QColor(30, 160, 70, 60)


class EpochAdviceWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.advice: Advice | None = None
        self.reason = QLabel(EMPTY_TEXT)
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setProperty("muted", True)
        self.note.hide()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    def show_advice(self, advice: Advice) -> None:
        self.advice = advice
        self.reason.setText(f"<b>Keep {Path(advice.recommended).name}</b><br>{advice.reason.capitalize()}.")
        self.note.setText(" ".join(advice.notes))
        self.note.setVisible(bool(advice.notes))
        self.table.setRowCount(len(advice.ranking))
        for row, score in enumerate(advice.ranking):
            keep = score.path == advice.recommended
            verdict = "keep" if keep else ("leaks" if score.leaks else ("unsteady" if score.unsteady else ""))
            cells = (
                f"{Path(score.path).name}  ({score.label})",
                "–" if score.validation is None else f"{score.validation:.4f}",
                f"{score.leakage * 100:.1f} %",
                f"{score.instability * 100:.1f} %",
                verdict,
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(score.path)
                if keep:
                    item.setBackground(QBrush(KEEP_COLOUR))
                self.table.setItem(row, col, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def row_texts(self) -> list[list[str]]:
        """What the table shows, row by row (for tests and screenshots)."""
        return [
            [self.table.item(r, c).text() for c in range(self.table.columnCount())]
            for r in range(self.table.rowCount())
        ]
