"""The picture grid: a virtualised QListView of thumbnails with a filter and sort bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QKeyEvent, QPainter, QPainterPath, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.dataset.image_filter_proxy import (
    SHOW_LABELS,
    SORT_LABELS,
    ImageFilterProxy,
    Show,
    SortBy,
)
from lora_studio.app.panels.dataset.image_list_model import ImageListModel, Role
from lora_studio.core.issues import Severity
from lora_studio.dataset.scan import ImageRow

Index = QModelIndex | QPersistentModelIndex
CELL = QSize(148, 176)
BOX = 132  # the square the thumbnail is fitted into
SEVERITY_COLORS = {
    Severity.ERROR: QColor("#d1242f"),
    Severity.WARNING: QColor("#d4a72c"),
    Severity.INFO: QColor("#3d7be0"),
}


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws a thumbnail (or a placeholder), the crop, small badges and the file name.

    Reads the source model's plain methods, not ``index.data()`` (see ``ImageListModel.thumbnail``).
    """

    def __init__(self, model: ImageListModel, proxy: ImageFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = proxy

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        source = self.proxy.mapToSource(index).row()
        if not 0 <= source < self.model.rowCount():
            return
        row = self.model.row_at(source)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal = option.palette
        cell = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            color = QColor(pal.color(QPalette.ColorRole.Highlight))
            color.setAlpha(70)
            painter.setBrush(color)
            painter.drawRoundedRect(cell, 8, 8)
        box = QRect(cell.x() + (cell.width() - BOX) // 2, cell.y() + 5, BOX, BOX)
        image = self.model.thumbnail(source)
        error = self.model.thumb_error(source)
        if image is not None and not image.isNull():
            target = _fit(image.size(), box)
            painter.drawImage(target, image)
            if row.crop is not None and row.width:
                _shade_outside_crop(painter, target, row)
            if row.excluded:
                painter.fillRect(target, QColor(255, 255, 255, 150))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.color(QPalette.ColorRole.Midlight))
            painter.drawRoundedRect(box.adjusted(8, 8, -8, -8), 6, 6)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "Can't open" if error else "Loading…")
        self._badges(painter, box, row, self.model.worst(source))
        text_rect = QRect(cell.x() + 4, box.bottom() + 6, cell.width() - 8, cell.bottom() - box.bottom() - 6)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        name = option.fontMetrics.elidedText(row.name, Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        painter.restore()

    @staticmethod
    def _badges(painter: QPainter, box: QRect, row: ImageRow, worst: Severity | None) -> None:
        if row.error:
            worst = Severity.ERROR
        if worst is not None:
            painter.setPen(QColor("white"))
            painter.setBrush(SEVERITY_COLORS[worst])
            painter.drawEllipse(QRectF(box.right() - 17, box.top() + 3, 14, 14))
        labels = []
        if not row.has_caption or not row.caption.strip():
            labels.append(("no caption", QColor("#b35900")))
        if row.mask is not None:
            labels.append(("mask", QColor("#6e40c9")))
        if row.erased is not None:
            labels.append(("erased", QColor("#0a7ea4")))
        if row.excluded:
            labels.append(("left out", QColor("#57606a")))
        font = QFont(painter.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.78))
        painter.setFont(font)
        x = box.left() + 4
        for text, color in labels:
            w = painter.fontMetrics().horizontalAdvance(text) + 10
            r = QRectF(x, box.bottom() - 19, w, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(r, 8, 8)
            painter.setPen(QColor("white"))
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
            x += w + 3
        painter.setFont(QFont())


def _fit(size: QSize, box: QRect) -> QRect:
    scaled = size.scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
    return QRect(
        box.x() + (box.width() - scaled.width()) // 2,
        box.y() + (box.height() - scaled.height()) // 2,
        scaled.width(),
        scaled.height(),
    )


def _shade_outside_crop(painter: QPainter, target: QRect, row: ImageRow) -> None:
    assert row.crop is not None
    sx, sy = target.width() / row.width, target.height() / row.height
    inner = QRectF(
        target.x() + row.crop.x * sx, target.y() + row.crop.y * sy, row.crop.width * sx, row.crop.height * sy
    )
    outside = QPainterPath()
    outside.addRect(QRectF(target))
    hole = QPainterPath()
    hole.addRect(inner)
    painter.fillPath(outside.subtracted(hole), QColor(0, 0, 0, 120))
    painter.setPen(QColor(255, 255, 255, 220))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(inner)


class ImageGridWidget(QWidget):
    """Grid plus filter bar. Emits plain rows; never reads files."""

    current_changed = Signal(object)  # ImageRow or None
    selection_changed = Signal(list)  # list[ImageRow]
    tag_filter_cleared = Signal()
    remove_requested = Signal(list)  # list[ImageRow]: "Remove from project" (menu or Delete key)
    transfer_requested = Signal(
        list, str, bool
    )  # list[ImageRow], target concept, copy: "Move to ▸" / "Copy to ▸"

    def __init__(self, model: ImageListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = ImageFilterProxy(self)
        self.proxy.setSourceModel(model)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search captions and file names…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda t: self._apply(text=t))
        self.show_combo = QComboBox()
        for value, label in SHOW_LABELS.items():
            self.show_combo.addItem(label, value.value)
        self.show_combo.currentIndexChanged.connect(
            lambda _: self._apply(show=Show(self.show_combo.currentData()))
        )
        self.sort_combo = QComboBox()
        for value, label in SORT_LABELS.items():
            self.sort_combo.addItem(f"Sort: {label}", value.value)
        self.sort_combo.currentIndexChanged.connect(
            lambda _: self.proxy.set_sort(SortBy(self.sort_combo.currentData()))
        )
        self.tag_chip = QToolButton()
        self.tag_chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.tag_chip.setToolTip("Click to stop filtering by this tag")
        self.tag_chip.clicked.connect(lambda: self.set_tag_filter(""))
        self.tag_chip.hide()

        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(300)
        self.view.setGridSize(CELL)
        self.view.setSpacing(0)
        self.view.setWordWrap(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # Pictures are dragged onto a concept in the concept list (moved; Ctrl copies).
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.viewport().setAcceptDrops(False)  # drops go to the panel (it imports them)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalScrollBar().setSingleStep(24)
        self.view.setItemDelegate(ThumbnailDelegate(model, self.proxy, self.view))
        self.view.setModel(self.proxy)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        # Right-click offers what can be done to the selected pictures; Delete does the same.
        self.remove_action = QAction("Remove from project…", self.view)
        self.remove_action.setShortcut(Qt.Key.Key_Delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.setToolTip(
            "Take the selected pictures out of the project; the originals are untouched"
        )
        self.remove_action.triggered.connect(lambda _checked=False: self._request_remove())
        self.move_menu, self.copy_menu = QMenu("Move to", self.view), QMenu("Copy to", self.view)
        self.move_action, self.copy_action = self.move_menu.menuAction(), self.copy_menu.menuAction()
        self.view.addAction(self.move_action)
        self.view.addAction(self.copy_action)
        self.view.addAction(self.remove_action)
        self._concepts: list[str] = []
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.view.installEventFilter(self)
        self.remove_action.setEnabled(False)
        self._update_transfer_menus()

        self.count_label = QLabel()
        self.count_label.setProperty("muted", True)

        for combo in (self.show_combo, self.sort_combo):
            # as wide as their text where there is room, narrower (elided) where the column is tight
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.show_combo)
        bar.addWidget(self.sort_combo)
        bar.addWidget(self.tag_chip)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        for sig in (
            self.proxy.modelReset,
            self.proxy.layoutChanged,
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
        ):
            sig.connect(self._update_count)
        self._update_count()

    # -- filters -------------------------------------------------------------------------------
    def _apply(self, *, text: str | None = None, tag: str | None = None, show: Show | None = None) -> None:
        self.proxy.set_filter(text=text, tag=tag, show=show)
        self._update_count()

    def set_concept(self, concept: str | None) -> None:
        self.proxy.set_concept(concept)
        self._update_count()

    def set_tag_filter(self, tag: str) -> None:
        self.proxy.set_filter(tag=tag)
        self.tag_chip.setText(f"Tag: {tag}  ✕")
        self.tag_chip.setVisible(bool(tag))
        if not tag:
            self.tag_filter_cleared.emit()
        self._update_count()

    def refilter(self) -> None:
        self.proxy.refilter()
        self._update_count()

    # -- selection -----------------------------------------------------------------------------
    def selected_rows(self) -> list[ImageRow]:
        indexes = sorted(self.view.selectionModel().selectedIndexes(), key=lambda i: i.row())
        return [i.data(Role.ROW) for i in indexes]

    def current_row(self) -> ImageRow | None:
        index = self.view.currentIndex()
        return index.data(Role.ROW) if index.isValid() else None

    def visible_rows(self) -> list[ImageRow]:
        return self.proxy.source_rows()

    def select_path(self, path: Path) -> bool:
        source = self.model.index_of_path(path)
        index = self.proxy.mapFromSource(source)
        if not index.isValid():
            return False
        self.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(index)
        return True

    def set_concepts(self, names: list[str]) -> None:
        """The concepts pictures can be moved or copied to (the context menu's submenus)."""
        self._concepts = list(names)
        self._update_transfer_menus()

    def _update_transfer_menus(self) -> None:
        selected = self.selected_rows()
        here = {r.concept for r in selected}
        for menu, copy in ((self.move_menu, False), (self.copy_menu, True)):
            menu.clear()
            for name in self._concepts if selected else ():
                if here == {name}:
                    continue  # already there
                action = menu.addAction(name)
                action.triggered.connect(lambda _checked=False, n=name, c=copy: self._request_transfer(n, c))
            verb = "Copy" if copy else "Move"
            enabled = bool(selected) and bool(menu.actions())
            menu.menuAction().setEnabled(enabled)
            menu.menuAction().setToolTip(
                f"{verb} the selected pictures, with their captions and masks, to another concept"
                if enabled
                else f"Select pictures first; {verb.lower()}ing needs a second concept to {verb.lower()} them to"
            )

    def _request_transfer(self, concept: str, copy: bool) -> None:
        rows = self.selected_rows()
        if rows:
            self.transfer_requested.emit(rows, concept, copy)

    def _request_remove(self) -> None:
        rows = self.selected_rows()
        if rows:
            self.remove_requested.emit(rows)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Delete / Backspace on the grid removes the selection (asked first, by the panel)."""
        if watched is self.view and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.remove_action.isEnabled():
                self.remove_action.trigger()
                return True
        return super().eventFilter(watched, event)

    def _on_selection(self, *_: object) -> None:
        self.remove_action.setEnabled(bool(self.view.selectionModel().selectedIndexes()))
        self._update_transfer_menus()
        self._update_count()
        self.selection_changed.emit(self.selected_rows())

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.current_changed.emit(current.data(Role.ROW) if current.isValid() else None)

    def _update_count(self, *_: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        selected = len(self.view.selectionModel().selectedIndexes())
        text = f"{shown} of {total} pictures" if shown != total else f"{total} pictures"
        if selected > 1:
            text += f" · {selected} selected"
        self.count_label.setText(text)
        self.count_label.setMinimumWidth(self.count_label.sizeHint().width())  # the count is never cut
