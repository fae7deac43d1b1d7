"""The Dataset tab: concepts, the picture grid and the editors (caption, crop, mask, tags, check).

The panel is the view: it builds the widgets and hands the work to per-feature controllers
(imports, captions, crops, masks and erasing, the check; ``jobs`` runs the tab's one background
job). Files and folders dropped on a concept are added to it; dropped anywhere else they go to the
concept shown in the grid (with several concepts a small dialog asks which), or to a new concept
named after the folder; pictures dragged from the grid onto a concept move there. Every change is saved at
once through ``lora_studio.dataset``; captions go through one undo history.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.caption_history import CaptionHistory
from lora_studio.app.panels.dataset.auto_mask_controller import AutoMaskController
from lora_studio.app.panels.dataset.caption_controller import CaptionController
from lora_studio.app.panels.dataset.caption_editor_widget import CaptionEditorWidget
from lora_studio.app.panels.dataset.check_controller import CheckController
from lora_studio.app.panels.dataset.check_widget import CheckWidget
from lora_studio.app.panels.dataset.concept_list_widget import ConceptListWidget, dropped_paths
from lora_studio.app.panels.dataset.crop_controller import CropController
from lora_studio.app.panels.dataset.crop_editor_widget import CropEditorWidget
from lora_studio.app.panels.dataset.dataset_state import DatasetState
from lora_studio.app.panels.dataset.image_grid_widget import ImageGridWidget
from lora_studio.app.panels.dataset.image_list_model import ImageListModel
from lora_studio.app.panels.dataset.import_controller import ImportController
from lora_studio.app.panels.dataset.job_control import JobControl
from lora_studio.app.panels.dataset.mask_controller import MaskController
from lora_studio.app.panels.dataset.mask_painter_widget import MaskPainterWidget
from lora_studio.app.panels.dataset.picture_controller import PictureController
from lora_studio.app.panels.dataset.tag_tools_widget import TagToolsWidget
from lora_studio.app.panels.dataset.thumbnail_loader import ThumbnailLoader
from lora_studio.app.state import AppContext
from lora_studio.app.widgets.empty_state_widget import EmptyStateWidget
from lora_studio.dataset import project as proj
from lora_studio.dataset.scan import ImageRow, scan_project

TAB_CAPTION, TAB_CROP, TAB_MASK, TAB_TAGS, TAB_CHECK = range(5)  # the editors' tabs, in order


class DatasetPanel(QWidget):
    title = "Dataset"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.project: proj.Project | None = None
        self.state = DatasetState(self)
        self.history: CaptionHistory = context.caption_history  # one app-wide undo history
        self.loader = ThumbnailLoader(parent=self)
        self.model = ImageListModel(self.loader, self)
        self.rescan_pending = False
        self.recheck_pending = False  # pictures changed after a check: run it again when idle
        self._restore: tuple[Path | None, list[Path]] = (None, [])
        self.follow: list[Path] = []  # pictures to choose after the next scan (moved ones)
        self._counts: dict[str, int] | None = None  # pictures per concept at the last scan
        self._notifying = False
        # Crops change a picture's shape bucket and so the batches: recount once edits settle.
        self._steps_timer = QTimer(self)
        self._steps_timer.setSingleShot(True)
        self._steps_timer.setInterval(300)
        self._steps_timer.timeout.connect(lambda: self.concepts.update_steps())

        self._build()
        self.setAcceptDrops(True)
        self.jobs = JobControl(self)
        self.imports = ImportController(self)
        self.captions = CaptionController(self)
        self.crops = CropController(self)
        self.masks = MaskController(self)
        self.automasks = AutoMaskController(self)
        self.checks = CheckController(self)
        self.pictures = PictureController(self)
        self.jobs.ended.connect(self._on_job_ended)
        self.concepts.concept_selected.connect(self.grid.set_concept)
        self.concepts.concepts_changed.connect(self._on_concepts_changed)
        self.concepts.error.connect(self.jobs.show_exception)
        self.grid.current_changed.connect(self._show_row)
        self.editors.currentChanged.connect(self._on_tab_changed)
        context.project_changed.connect(self.set_project)
        context.project_modified.connect(self._on_project_modified)
        self.set_project(context.project)

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.empty = EmptyStateWidget(
            self.context,
            "Your pictures",
            "Here you gather the pictures the LoRA learns from and describe each one.",
            [
                "Add a folder of pictures, or drag pictures in",
                "Write captions as tags or text, with suggestions from your own tags",
                "Crop each picture to what matters and paint over signatures",
                "Group pictures into concepts (a character, a style) with their own trigger word",
            ],
        )
        self.concepts = ConceptListWidget(context=self.context)
        self.concepts.setMinimumWidth(230)
        self.grid = ImageGridWidget(self.model)
        self.caption_editor = CaptionEditorWidget()
        self.crop_editor = CropEditorWidget()
        self.mask_painter = MaskPainterWidget()
        self.tag_tools = TagToolsWidget()
        self.check = CheckWidget()
        self.editors = QTabWidget()
        self.editors.setDocumentMode(True)
        self.editors.setMinimumWidth(380)
        self.editors.addTab(self.caption_editor, "Caption")
        self.editors.addTab(self.crop_editor, "Crop")
        self.editors.addTab(self.mask_painter, "Mask")
        self.editors.addTab(self.tag_tools, "All tags")
        self.editors.addTab(self.check, "Check")

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.concepts, self.grid, self.editors):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([250, 600, 430])
        self.splitter.setChildrenCollapsible(False)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(self.splitter, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

    def _build_toolbar(self) -> QHBoxLayout:
        self.add_button = QToolButton()
        self.add_button.setText("Add pictures…")
        self.add_button.setProperty("primary", True)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        menu = QMenu(self.add_button)
        self.add_pictures_action = menu.addAction("Add pictures…")
        self.add_folder_action = menu.addAction("Add a folder…")
        menu.addSeparator()
        group = QActionGroup(menu)
        self.copy_action = QAction("Copy them into the project (recommended)", menu, checkable=True)
        self.link_action = QAction("Use them where they are (no copy)", menu, checkable=True)
        for a in (self.copy_action, self.link_action):
            group.addAction(a)
            menu.addAction(a)
        self.add_button.setMenu(menu)

        self.autocaption_button = QPushButton("Auto-caption…")
        self.autocaption_button.setToolTip("Let a captioning model write or add captions (tags or sentences)")

        self.kohya_button = QToolButton()
        self.kohya_button.setText("kohya folders ▾")
        self.kohya_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.kohya_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        kmenu = QMenu(self.kohya_button)
        self.kohya_import_action = kmenu.addAction("Import a kohya folder (img/10_name)…")
        self.kohya_export_action = kmenu.addAction("Export for kohya…")
        self.kohya_button.setMenu(kmenu)

        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        # Window-wide: the main window puts these actions in its Edit menu (one app-wide history).
        self.undo_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)
        undo_button = QToolButton()
        undo_button.setDefaultAction(self.undo_action)
        redo_button = QToolButton()
        redo_button.setDefaultAction(self.redo_action)

        self.job_label = QLabel()
        self.job_label.setProperty("muted", True)
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(180)
        self.job_bar.setMaximumHeight(12)
        self.job_bar.setTextVisible(False)
        self.job_cancel = QPushButton("Stop")
        for w in (self.job_bar, self.job_cancel):
            w.hide()

        bar = QHBoxLayout()
        for button in (self.add_button, self.kohya_button, self.autocaption_button):
            bar.addWidget(button)
        bar.addSpacing(12)
        bar.addWidget(undo_button)
        bar.addWidget(redo_button)
        bar.addStretch(1)
        for part in (self.job_label, self.job_bar, self.job_cancel):
            bar.addWidget(part)
        return bar

    # -- project -------------------------------------------------------------------------------
    def set_project(self, project: proj.Project | None) -> None:
        self.caption_editor.commit()
        self.mask_painter.flush()
        self.project = project
        self.history.clear()
        self._counts = None
        self.loader.cancel_all()
        self.model.set_rows([], prefetch=False)
        self.checks.clear()
        self.concepts.set_project(self.project)
        self.stack.setCurrentIndex(1 if self.project is not None else 0)
        self._show_row(None)
        if self.project is not None:
            self.rescan()

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def rescan(self) -> None:
        """Read every picture's caption and size again (in the background)."""
        if self.project is None:
            return
        if self.jobs.busy:
            self.rescan_pending = True
            return
        current = self.grid.current_row()
        self._restore = (current.path if current else None, [r.path for r in self.grid.selected_rows()])
        if self.follow:  # pictures that moved: choose them where they are now
            self._restore, self.follow = (self.follow[0], self.follow), []
        snapshot = self.project.snapshot()
        self.jobs.start(lambda r, c: scan_project(snapshot, r, c), "Reading pictures", self._on_scanned)

    def _on_scanned(self, rows: list[ImageRow]) -> None:
        self.model.set_rows(rows)
        if self.checks.issues:
            self.model.set_issues(self.checks.issues)
        counter = Counter(r.concept for r in rows)
        counts = {c.name: counter.get(c.name, 0) for c in self.project.concepts} if self.project else {}
        self.concepts.set_counts(counts)
        if self._counts is not None and counts != self._counts:
            self._notify_modified()  # pictures were added or removed: other panels' step maths change
            if self.check.checked:  # the last check's result is about other pictures: check again
                self.check.mark_stale()
                self.recheck_pending = True
        self._counts = counts
        self.grid.refilter()
        current, selected = self._restore
        for path in selected:
            self.grid.select_path(path)
        if current is not None:
            self.grid.select_path(current)
        if self.grid.current_row() is None:
            self._show_row(None)  # the picture shown went (moved or removed): show no stale one
        self.captions.frequency_soon(len(rows))

    def _on_job_ended(self) -> None:
        if self.rescan_pending:
            self.rescan_pending = False
            self.rescan()
        elif self.recheck_pending and not self.busy:
            self.recheck_pending = False
            self.checks.run_check()

    def steps_soon(self) -> None:
        self._steps_timer.start()

    # -- concepts ------------------------------------------------------------------------------
    def _notify_modified(self) -> None:
        self._notifying = True
        try:
            self.context.notify_project_modified()
        finally:
            self._notifying = False

    def _on_project_modified(self) -> None:
        """Another panel changed the concepts (e.g. the training panel's "Auto steps" set repeats)."""
        if self._notifying or self.project is None:
            return
        self.concepts.reload()  # names, repeats, trigger words and the step maths
        self._check_concept_paths()

    def _on_concepts_changed(self) -> None:
        if self.project is None:
            return
        self._notify_modified()
        self._check_concept_paths()

    def _check_concept_paths(self) -> None:
        if self.project is None:
            return
        known = {(c.name, c.folder) for c in self.project.concepts}
        root = self.project.root
        shown = {
            (r.concept, r.path.parent.relative_to(root).as_posix())
            for r in self.model.rows()
            if not Path(r.key).is_absolute()
        }
        if not shown <= known:  # a concept was renamed or removed: its paths changed
            self.rescan()

    # -- current picture -----------------------------------------------------------------------
    def _show_row(self, row: ImageRow | None) -> None:
        self.caption_editor.set_row(row)
        if row is not None:
            index = self.model.index_of_path(row.path)
            thumb = self.model.thumbnail(index.row()) if index.isValid() else None
            self.caption_editor.set_preview(QPixmap.fromImage(thumb) if thumb is not None else None)
        self.crops.show_row(row)

    def _on_tab_changed(self, _index: int) -> None:
        self.crops.load_preview_if_needed()
        if self.editors.currentWidget() is not self.caption_editor:
            self.caption_editor.commit()

    def dragEnterEvent(self, event: QDragEnterEvent | QDragMoveEvent) -> None:  # noqa: N802
        if self.project is not None and dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = dropped_paths(event)
        if self.project is None or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        concept = self.concepts.current_concept()  # asked after the drop ends: no dialog inside a drag
        QTimer.singleShot(0, lambda: self.imports.import_files(paths, concept, ask=True))
