"""Concepts (a character, a style …) with trigger word, class word, repeats and kind, plus the
live step maths. Pictures dropped on a concept are added to it.

The step maths count as the trainer does (:mod:`lora_studio.training.steps`) with the project's
training settings: the epochs and batch size shown here are the Training tab's, shared through
``AppContext.training`` (the one copy); changing them here changes them there (and in the project).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.dataset.steps_box_widget import TrainingStepsBox
from lora_studio.app.state import AppContext
from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset import project as proj
from lora_studio.dataset.items import ConceptKind
from lora_studio.training.config import TrainConfig
from lora_studio.training.steps import StepCount

log = logging.getLogger(__name__)

ALL = "\x00all"  # item data of the "All pictures" row
KIND_LABELS = {
    ConceptKind.TRAINING: "Training pictures",
    ConceptKind.REGULARIZATION: "Regularization (class) pictures",
}


def dropped_paths(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[Path]:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]


COUNT_ROLE = Qt.ItemDataRole.UserRole + 1



class _ConceptDelegate(QStyledItemDelegate):
    """Name on the left, "12 × 10" (pictures × repeats) muted on the right."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), option.fontMetrics.height() + 12))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        count = index.data(COUNT_ROLE) or ""  # always set (an empty value would leak, see image_list_model)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = option.rect.adjusted(8, 0, -8, 0)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        count_w = option.fontMetrics.horizontalAdvance(count) + 6 if count else 0
        painter.setPen(option.palette.color(role))
        name = option.fontMetrics.elidedText(
            index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight, rect.width() - count_w
        )
        painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
        if count:
            muted = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
            painter.setPen(option.palette.color(muted))
            painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, count)
        painter.restore()


class ConceptListView(QListWidget):
    """The list itself; accepts files and folders dropped from the file manager."""

    files_dropped = Signal(object, list)  # concept name or None (dropped below the list), [Path]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setItemDelegate(_ConceptDelegate(self))
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )

    def concept_at(self, pos: QPoint) -> str | None:
        item = self.itemAt(pos)
        if item is None:
            return None
        name = item.data(Qt.ItemDataRole.UserRole)
        return None if name == ALL else name

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if dropped_paths(event):
            item = self.itemAt(event.position().toPoint())
            if item is not None and item.data(Qt.ItemDataRole.UserRole) != ALL:
                self.setCurrentItem(item)  # shows where the pictures will go
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = dropped_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.files_dropped.emit(self.concept_at(event.position().toPoint()), paths)


class ConceptListWidget(QWidget):
    concept_selected = Signal(object)  # name or None for "All pictures"
    concepts_changed = Signal()  # added, renamed, removed or settings changed
    files_dropped = Signal(object, list)  # concept name or None, [Path]
    error = Signal(LoraStudioError)  # LoraStudioError to show

    def __init__(self, parent: QWidget | None = None, *, context: AppContext | None = None) -> None:
        super().__init__(parent)
        self.project: proj.Project | None = None
        self._counts: dict[str, int] = {}
        self._loading = False

        heading = QLabel("Concepts")
        heading.setStyleSheet("font-weight: 600; font-size: 11pt;")
        self.list = ConceptListView()
        self.list.files_dropped.connect(self.files_dropped)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_item_renamed)
        self.list.setToolTip("Drop pictures or folders on a concept to add them. Double-click to rename.")
        self.add_button = QPushButton("New concept")
        # clicked(bool) must not reach new_concept's name
        self.add_button.clicked.connect(lambda _checked=False: self.new_concept())
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Moves the concept's folder to the project's .trash folder")
        self.remove_button.clicked.connect(self._remove_current)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)

        self.trigger = QLineEdit()
        self.trigger.setPlaceholderText("e.g. ohwx")
        self.trigger.setToolTip("A rare word you will type in prompts to call up what the LoRA learned.")
        self.class_word = QLineEdit()
        self.class_word.setPlaceholderText("e.g. woman, dog, style")
        self.class_word.setToolTip("What kind of thing it is. Used for pictures without a caption.")
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 1000)
        self.repeats.setToolTip("How many times each picture is shown per epoch (kohya's 25_ in 25_ohwx woman).")
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind.value)
        for w in (self.trigger, self.class_word):
            w.editingFinished.connect(self._save_settings)
        self.repeats.valueChanged.connect(self._save_settings)
        self.kind.currentIndexChanged.connect(self._save_settings)
        self.settings_box = QGroupBox("Selected concept")
        form = QFormLayout(self.settings_box)
        form.addRow("Trigger word", self.trigger)
        form.addRow("Class word", self.class_word)
        form.addRow("Repeats", self.repeats)
        form.addRow("Pictures are", self.kind)

        self.steps = TrainingStepsBox(self, context=context)
        self.epochs, self.batch, self.steps_label = self.steps.epochs, self.steps.batch, self.steps.steps_label

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.settings_box)
        layout.addWidget(self.steps)
        self.set_project(None)

    # -- data ----------------------------------------------------------------------------------
    def set_project(self, project: proj.Project | None) -> None:
        self.project = project
        self.steps.project = project
        self.reload()

    def set_context(self, context: AppContext) -> None:
        """Share the training settings with the app's other tabs."""
        self.steps.set_context(context)

    def set_counts(self, counts: dict[str, int]) -> None:
        self._counts = dict(counts)
        self._relabel()
        self.update_steps()

    def current_concept(self) -> str | None:
        item = self.list.currentItem()
        if item is None:
            return None
        name = item.data(Qt.ItemDataRole.UserRole)
        return None if name == ALL else name

    def select(self, name: str | None) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == (name if name is not None else ALL):
                self.list.setCurrentRow(i)
                return

    def item_for(self, name: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                return self.list.item(i)
        return None

    def reload(self) -> None:
        current = self.current_concept()
        self._loading = True
        self.list.clear()
        if self.project is not None:
            all_item = QListWidgetItem()
            all_item.setData(Qt.ItemDataRole.UserRole, ALL)
            all_item.setData(COUNT_ROLE, "")
            all_item.setFlags(all_item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(all_item)
            for c in self.project.concepts:
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, c.name)
                item.setData(COUNT_ROLE, "")
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.list.addItem(item)
        self._relabel()
        self._loading = False
        self.add_button.setEnabled(self.project is not None)
        if self.project is not None:
            self.select(current if current and self.item_for(current) else None)
        self._load_settings()
        self.update_steps()

    def _relabel(self) -> None:
        self._loading = True
        for i in range(self.list.count()):
            item = self.list.item(i)
            name = item.data(Qt.ItemDataRole.UserRole)
            if name == ALL:
                item.setText("All pictures")
                item.setData(COUNT_ROLE, str(sum(self._counts.values())))
                continue
            n = self._counts.get(name, 0)
            try:
                c = self.project.concept(name) if self.project else None
            except LoraStudioError:
                c = None
            item.setText(name)
            if c is not None:
                reg = " · regularization" if c.kind == ConceptKind.REGULARIZATION else ""
                item.setToolTip(f"{name}: {n} pictures, {c.repeats} repeats{reg}")
                item.setData(COUNT_ROLE, f"{n} × {c.repeats}" + (" reg" if reg else ""))
        self._loading = False

    # -- concept settings ----------------------------------------------------------------------
    def _on_current(self, *_: object) -> None:
        self._load_settings()
        self.concept_selected.emit(self.current_concept())

    def _load_settings(self) -> None:
        name = self.current_concept()
        project = self.project
        enabled = project is not None and name is not None
        self.settings_box.setEnabled(enabled)
        self.remove_button.setEnabled(enabled)
        self._loading = True
        try:
            if project is not None and name is not None:
                c = project.concept(name)
                self.settings_box.setTitle(f"Concept “{c.name}”")
                self.trigger.setText(c.trigger)
                self.class_word.setText(c.class_word)
                self.repeats.setValue(c.repeats)
                self.kind.setCurrentIndex(max(0, self.kind.findData(c.kind.value)))
            else:
                self.settings_box.setTitle("Pick a concept to change its settings")
                for w in (self.trigger, self.class_word):
                    w.clear()
                self.repeats.setValue(1)
        finally:
            self._loading = False

    def _save_settings(self) -> None:
        name = self.current_concept()
        if self._loading or self.project is None or name is None:
            return
        c = self.project.concept(name)
        changes = {
            "trigger": self.trigger.text().strip(),
            "class_word": self.class_word.text().strip(),
            "repeats": self.repeats.value(),
            "kind": ConceptKind(self.kind.currentData()),
        }
        if all(getattr(c, k) == v for k, v in changes.items()):
            return
        try:
            proj.update_concept(self.project, name, **changes)
        except LoraStudioError as exc:
            self.error.emit(exc)
            return
        self._relabel()
        self.update_steps()
        self.concepts_changed.emit()

    # -- add / rename / remove -----------------------------------------------------------------
    def new_concept(self, name: str = "", *, edit: bool = True) -> str | None:
        if self.project is None:
            return None
        base = name.strip() or "New concept"
        used = {c.name for c in self.project.concepts}
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base} {n}", n + 1
        try:
            proj.add_concept(self.project, candidate)
        except LoraStudioError as exc:
            self.error.emit(exc)
            return None
        self.reload()
        self.select(candidate)
        self.concepts_changed.emit()
        if edit and not name:
            item = self.item_for(candidate)
            if item is not None:
                self.list.editItem(item)
        return candidate

    def _on_item_renamed(self, item: QListWidgetItem) -> None:
        if self._loading or self.project is None:
            return
        old = item.data(Qt.ItemDataRole.UserRole)
        new = item.text().strip()
        if old == ALL or new == old:
            self._relabel()
            return
        try:
            proj.rename_concept(self.project, old, new)
        except LoraStudioError as exc:
            self._relabel()
            self.error.emit(exc)
            return
        self._counts[new] = self._counts.pop(old, 0)
        self._loading = True
        item.setData(Qt.ItemDataRole.UserRole, new)
        self._loading = False
        self._relabel()
        self._load_settings()
        self.concepts_changed.emit()
        self.concept_selected.emit(new)

    def rename(self, old: str, new: str) -> None:
        item = self.item_for(old)
        if item is not None:
            item.setText(new)  # goes through _on_item_renamed

    def _remove_current(self) -> None:
        name = self.current_concept()
        if self.project is None or name is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove concept?",
            f"Remove the concept “{name}” and its {self._counts.get(name, 0)} pictures from the project?\n\n"
            "Nothing is deleted: the folder moves to the project's .trash folder.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(name)

    def remove(self, name: str) -> None:
        if self.project is None:
            return
        try:
            proj.remove_concept(self.project, name)
        except LoraStudioError as exc:
            self.error.emit(exc)
            return
        self._counts.pop(name, None)
        self.reload()
        self.concepts_changed.emit()

    # -- steps (the box below the concepts) --------------------------------------------------------
    def training_settings(self) -> TrainConfig:
        return self.steps.training_settings()

    def step_count(self) -> StepCount | None:
        return self.steps.step_count()

    def update_steps(self) -> None:
        self.steps.update_steps()
