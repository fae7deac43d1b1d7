"""All tags with how often they are used (click one to filter the grid), and bulk edits over the
selected pictures, the concept or every picture."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)


class Scope(enum.StrEnum):
    SELECTED = "selected"
    SHOWN = "shown"
    CONCEPT = "concept"
    ALL = "all"


SCOPE_LABELS = {
    Scope.SELECTED: "Selected pictures",
    Scope.SHOWN: "Pictures shown in the grid",
    Scope.CONCEPT: "Every picture of this concept",
    Scope.ALL: "Every picture in the project",
}


class Operation(enum.StrEnum):
    ADD_FRONT = "add-front"
    ADD_BACK = "add-back"
    REMOVE = "remove"
    RENAME = "rename"
    REPLACE = "replace"
    REPLACE_REGEX = "replace-regex"
    SORT_ABC = "sort-abc"
    SORT_FREQ = "sort-freq"
    DEDUPE = "dedupe"
    TRIGGER = "trigger"


# label, first field label (or None), second field label (or None)
OPERATIONS: dict[Operation, tuple[str, str | None, str | None]] = {
    Operation.ADD_FRONT: ("Add a tag at the start", "Tag", None),
    Operation.ADD_BACK: ("Add a tag at the end", "Tag", None),
    Operation.REMOVE: ("Remove a tag", "Tag", None),
    Operation.RENAME: ("Rename a tag", "Tag", "New name"),
    Operation.REPLACE: ("Find and replace text", "Find", "Replace with"),
    Operation.REPLACE_REGEX: ("Find and replace (regular expression)", "Pattern", "Replace with"),
    Operation.SORT_ABC: ("Sort tags A to Z", None, None),
    Operation.SORT_FREQ: ("Sort tags, most used first", None, None),
    Operation.DEDUPE: ("Remove repeated tags", None, None),
    Operation.TRIGGER: ("Put the concept's trigger word first", None, None),
}


@dataclass(frozen=True, slots=True)
class BulkRequest:
    operation: Operation
    scope: Scope
    first: str = ""
    second: str = ""
    keep_first: int = 0


class TagToolsWidget(QWidget):
    tag_clicked = Signal(str)  # filter the grid by this tag
    tag_picked = Signal(str)  # double-click: add it to the current picture
    bulk_requested = Signal(BulkRequest)  # BulkRequest

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, 2, self)
        self.model.setHorizontalHeaderLabels(["Tag", "Pictures"])
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find a tag…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.clicked.connect(self._on_clicked)
        self.table.doubleClicked.connect(lambda i: self.tag_picked.emit(self._tag_at(i)))
        self.summary = QLabel()
        self.summary.setProperty("muted", True)
        hint = QLabel("Click a tag to show only the pictures that have it.")
        hint.setProperty("muted", True)
        hint.setWordWrap(True)

        tags_box = QGroupBox("Tags in use")
        tags_layout = QVBoxLayout(tags_box)
        tags_layout.addWidget(self.search)
        tags_layout.addWidget(self.table, 1)
        tags_layout.addWidget(self.summary)
        tags_layout.addWidget(hint)

        self.operation = QComboBox()
        for op, (label, _, _) in OPERATIONS.items():
            self.operation.addItem(label, op.value)
        self.operation.currentIndexChanged.connect(self._update_fields)
        self.scope = QComboBox()
        for scope, label in SCOPE_LABELS.items():
            self.scope.addItem(label, scope.value)
        self.first = QLineEdit()
        self.second = QLineEdit()
        self.first_label = QLabel()
        self.second_label = QLabel()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setProperty("primary", True)
        self.apply_button.clicked.connect(self._apply)
        self.first.returnPressed.connect(self._apply)
        self.second.returnPressed.connect(self._apply)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setProperty("muted", True)
        bulk_box = QGroupBox("Change many captions at once")
        form = QFormLayout(bulk_box)
        form.addRow("Change", self.operation)
        form.addRow("On", self.scope)
        form.addRow(self.first_label, self.first)
        form.addRow(self.second_label, self.second)
        buttons = QHBoxLayout()
        buttons.addWidget(self.result, 1)
        buttons.addWidget(self.apply_button)
        form.addRow(buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(tags_box, 1)
        layout.addWidget(bulk_box)
        self._update_fields()

    # -- frequency table -----------------------------------------------------------------------
    def set_frequency(self, table: list[tuple[str, int]], pictures: int) -> None:
        self.model.removeRows(0, self.model.rowCount())
        for tag, count in table:
            name = QStandardItem(tag)
            name.setData(tag.casefold(), Qt.ItemDataRole.UserRole)
            number = QStandardItem(str(count))
            number.setData(count, Qt.ItemDataRole.UserRole)
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.model.appendRow([name, number])
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.summary.setText(f"{len(table)} different tags in {pictures} pictures")

    def tags(self) -> list[tuple[str, int]]:
        return [
            (self.model.item(r, 0).text(), int(self.model.item(r, 1).text())) for r in range(self.model.rowCount())
        ]

    def _tag_at(self, index: QModelIndex) -> str:
        source = self.proxy.mapToSource(index)
        return self.model.item(source.row(), 0).text()

    def _on_clicked(self, index: QModelIndex) -> None:
        tag = self._tag_at(index)
        self.tag_clicked.emit(tag)
        if OPERATIONS[self.current_operation()][1] == "Tag" or self.current_operation() in (
            Operation.RENAME,
            Operation.REPLACE,
        ):
            self.first.setText(tag)

    # -- bulk edits ----------------------------------------------------------------------------
    def current_operation(self) -> Operation:
        return Operation(self.operation.currentData())

    def _update_fields(self) -> None:
        _, first, second = OPERATIONS[self.current_operation()]
        for label, field, text in ((self.first_label, self.first, first), (self.second_label, self.second, second)):
            label.setText(text or "")
            label.setVisible(text is not None)
            field.setVisible(text is not None)

    def _apply(self) -> None:
        op = self.current_operation()
        _, first, second = OPERATIONS[op]
        if first is not None and not self.first.text().strip():
            self.result.setText(f"Type the {first.lower()} first.")
            return
        self.bulk_requested.emit(
            BulkRequest(op, Scope(self.scope.currentData()), self.first.text().strip(), self.second.text())
        )

    def show_result(self, text: str) -> None:
        self.result.setText(text)
