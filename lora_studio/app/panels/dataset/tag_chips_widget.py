"""Tags shown as chips that wrap like words: drag a chip to reorder, click its × to remove it,
double-click to edit it."""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

Index = QModelIndex | QPersistentModelIndex
PAD_X = 10
CLOSE_W = 16


class _ChipDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        fm = option.fontMetrics
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        return QSize(fm.horizontalAdvance(text) + 2 * PAD_X + CLOSE_W, fm.height() + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = option.palette
        rect = QRectF(option.rect.adjusted(2, 2, -2, -2))
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        fill = QColor(pal.color(QPalette.ColorRole.Highlight))
        fill.setAlpha(255 if selected else 38)
        painter.setPen(QColor(pal.color(QPalette.ColorRole.Highlight)).darker(110))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        text_color = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        painter.setPen(text_color)
        text_rect = rect.adjusted(PAD_X, 0, -CLOSE_W - 2, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, index.data())
        painter.setPen(text_color if selected else pal.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(close_rect(option.rect), Qt.AlignmentFlag.AlignCenter, "×")
        painter.restore()


def close_rect(item_rect: QRect) -> QRect:
    return QRect(item_rect.right() - CLOSE_W - 6, item_rect.top(), CLOSE_W, item_rect.height())


class TagChipsWidget(QListWidget):
    tags_changed = Signal(list)  # list[str], after a move, removal or edit by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSpacing(2)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.setItemDelegate(_ChipDelegate(self))
        self.setToolTip("Drag a tag to move it. Click × or press Delete to remove it. Double-click to edit.")
        self._last: list[str] = []
        self._check = QTimer(self)
        self._check.setSingleShot(True)
        self._check.setInterval(0)
        self._check.timeout.connect(self._emit_if_changed)
        model = self.model()
        for sig in (model.rowsMoved, model.rowsInserted, model.rowsRemoved, model.dataChanged):
            sig.connect(self._check.start)

    def tags(self) -> list[str]:
        return [self.item(i).text().strip() for i in range(self.count()) if self.item(i).text().strip()]

    def set_tags(self, tags: list[str]) -> None:
        """Show ``tags`` (no signal: this is not a user edit)."""
        self.blockSignals(True)
        self.clear()
        for tag in tags:
            item = QListWidgetItem(tag)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDropEnabled)  # drop between, not onto
            self.addItem(item)
        self.blockSignals(False)
        self._last = self.tags()

    def add_tags(self, tags: list[str]) -> None:
        current = self.tags()
        new = [t for t in dict.fromkeys(t.strip() for t in tags) if t and t not in current]
        if new:
            self.set_tags(current + new)
            self._emit_if_changed(force=True)

    def move_tag(self, source: int, target: int) -> None:
        """Move one chip (what a drag does), e.g. for keyboard users and tests."""
        tags = self.tags()
        tag = tags.pop(source)
        tags.insert(target, tag)
        self.set_tags(tags)
        self._emit_if_changed(force=True)

    def remove_tags(self, rows: list[int]) -> None:
        tags = [t for i, t in enumerate(self.tags()) if i not in set(rows)]
        self.set_tags(tags)
        self._emit_if_changed(force=True)

    def _emit_if_changed(self, force: bool = False) -> None:
        tags = self.tags()
        if force or tags != self._last:
            self._last = tags
            self.tags_changed.emit(tags)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos: QPoint = event.position().toPoint()
        item = self.itemAt(pos)
        if item is not None and event.button() == Qt.MouseButton.LeftButton:
            if close_rect(self.visualItemRect(item)).contains(pos):
                self.remove_tags([self.row(item)])
                return
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.state() != self.State.EditingState:
            rows = sorted(self.row(i) for i in self.selectedItems())
            if rows:
                self.remove_tags(rows)
                return
        super().keyPressEvent(event)
