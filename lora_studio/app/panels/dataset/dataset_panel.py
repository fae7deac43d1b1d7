"""The Dataset tab: concepts, the picture grid and the editors (caption, crop, mask, tags, check).

Files and folders dropped on a concept are added to it; dropped anywhere else they go to the
concept shown in the grid, or to a new concept named after the folder. Every change is saved at
once through ``lora_studio.dataset``; captions go through one undo history.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
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
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
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
from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.dataset.auto_caption_dialog import AutoCaptionDialog, CaptionScope
from lora_studio.app.panels.dataset.caption_editor_widget import CaptionEditorWidget
from lora_studio.app.panels.dataset.check_widget import CheckWidget
from lora_studio.app.panels.dataset.concept_list_widget import ConceptListWidget, dropped_paths
from lora_studio.app.panels.dataset.crop_editor_widget import CropEditorWidget
from lora_studio.app.panels.dataset.erase_worker import EraseRunner
from lora_studio.app.panels.dataset.image_grid_widget import ImageGridWidget
from lora_studio.app.panels.dataset.image_list_model import ImageListModel
from lora_studio.app.panels.dataset.mask_painter_widget import MaskPainterWidget
from lora_studio.app.panels.dataset.preview_loader import Preview, PreviewLoader
from lora_studio.app.panels.dataset.tag_tools_widget import BulkRequest, Scope, TagToolsWidget
from lora_studio.app.panels.dataset.thumbnail_loader import ThumbnailLoader
from lora_studio.app.state import AppContext
from lora_studio.app.widgets.empty_state_widget import EmptyStateWidget
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import JobFunction, Worker
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, IssuesFound, Progress
from lora_studio.core.issues import Issue
from lora_studio.dataset import captions as cap
from lora_studio.dataset import edits
from lora_studio.dataset import project as proj
from lora_studio.dataset.images import load_rgb_and_alpha
from lora_studio.dataset.jobs import bulk_edit, check_job
from lora_studio.dataset.kohya import export_kohya, import_kohya
from lora_studio.dataset.ops import buckets_for, center_crop_box, nearest_bucket
from lora_studio.dataset.scan import ImageRow, read_row, scan_project
from lora_studio.dataset.validate import Fix

log = logging.getLogger(__name__)

TAB_CAPTION, TAB_CROP, TAB_MASK, TAB_TAGS, TAB_CHECK = range(5)


class DatasetPanel(QWidget):
    title = "Dataset"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.project: proj.Project | None = None
        # False: use pictures where they are (linked). Remembered in the app settings.
        self.copy_into_project = context.settings.copy_images_on_import
        history = getattr(context, "caption_history", None)  # app-wide; a private one for a bare context
        self.history: CaptionHistory = history if history is not None else CaptionHistory(self)
        self.loader = ThumbnailLoader(parent=self)
        self.model = ImageListModel(self.loader, self)
        self.previews = PreviewLoader(self)
        self.previews.loaded.connect(self._on_preview_loaded)
        self.previews.failed.connect(self._on_preview_failed)
        self.erasers = EraseRunner(self)
        self.erasers.done.connect(self._on_erase_done)
        self.erasers.failed.connect(self._on_erase_failed)
        self._job: Worker | None = None
        self._autocaption: AutoCaptionDialog | None = None
        self._after_job: list[object] = []
        self._rescan_pending = False
        self._restore: tuple[Path | None, list[Path]] = (None, [])
        self._counts: dict[str, int] | None = None  # pictures per concept at the last scan
        self._notifying = False
        self._preview_for: Path | None = None
        self._issues: list[Issue] = []
        self._status_text = ""
        self._freq_timer = QTimer(self)
        self._freq_timer.setSingleShot(True)
        self._freq_timer.setInterval(150)
        self._freq_timer.timeout.connect(self._update_frequency)
        # Crops change a picture's shape bucket and so the batches: recount once edits settle.
        self._steps_timer = QTimer(self)
        self._steps_timer.setSingleShot(True)
        self._steps_timer.setInterval(300)
        self._steps_timer.timeout.connect(lambda: self.concepts.update_steps())

        self._build()
        self.setAcceptDrops(True)
        self.history.files_changed.connect(self._on_captions_written)
        self.history.history_changed.connect(self._update_undo_actions)
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
        self.concepts.concept_selected.connect(self._on_concept_selected)
        self.concepts.concepts_changed.connect(self._on_concepts_changed)
        self.concepts.files_dropped.connect(self._on_files_dropped)
        self.concepts.error.connect(self._show_exception)

        self.grid = ImageGridWidget(self.model)
        self.grid.current_changed.connect(self._on_current_row)
        self.grid.selection_changed.connect(self._on_selection)

        self.caption_editor = CaptionEditorWidget()
        self.caption_editor.caption_edited.connect(self._on_caption_edited)
        self.crop_editor = CropEditorWidget()
        self.crop_editor.crop_changed.connect(self._on_crop_changed)
        self.crop_editor.batch_requested.connect(self._on_batch_crop)
        self.mask_painter = MaskPainterWidget()
        self.mask_painter.mask_changed.connect(self._on_mask_changed)
        self.mask_painter.erase_changed.connect(self._on_erase_changed)
        self.tag_tools = TagToolsWidget()
        self.tag_tools.tag_clicked.connect(self.grid.set_tag_filter)
        self.tag_tools.tag_picked.connect(self.caption_editor.add_tag)
        self.tag_tools.bulk_requested.connect(self.run_bulk)
        self.check = CheckWidget()
        self.check.check_requested.connect(self.run_check)
        self.check.cancel_requested.connect(self._cancel_job)
        self.check.fix_requested.connect(self.apply_fix)
        self.check.issue_activated.connect(self._show_issue)
        self.editors = QTabWidget()
        self.editors.setDocumentMode(True)
        self.editors.setMinimumWidth(380)
        self.editors.addTab(self.caption_editor, "Caption")
        self.editors.addTab(self.crop_editor, "Crop")
        self.editors.addTab(self.mask_painter, "Mask")
        self.editors.addTab(self.tag_tools, "All tags")
        self.editors.addTab(self.check, "Check")
        self.editors.currentChanged.connect(self._on_tab_changed)

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
        self.add_button.clicked.connect(self.add_pictures_dialog)
        menu = QMenu(self.add_button)
        menu.addAction("Add pictures…", self.add_pictures_dialog)
        menu.addAction("Add a folder…", self.add_folder_dialog)
        menu.addSeparator()
        group = QActionGroup(menu)
        self.copy_action = QAction("Copy them into the project (recommended)", menu, checkable=True)
        self.link_action = QAction("Use them where they are (no copy)", menu, checkable=True)
        for a in (self.copy_action, self.link_action):
            group.addAction(a)
            menu.addAction(a)
        self.copy_action.setChecked(self.copy_into_project)
        self.link_action.setChecked(not self.copy_into_project)
        self.copy_action.toggled.connect(self._set_copy_into_project)
        self.add_button.setMenu(menu)

        self.autocaption_button = QPushButton("Auto-caption…")
        self.autocaption_button.setToolTip("Let a captioning model write or add captions (tags or sentences)")
        self.autocaption_button.clicked.connect(self.auto_caption_dialog)

        self.kohya_button = QToolButton()
        self.kohya_button.setText("kohya folders ▾")
        self.kohya_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.kohya_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        kmenu = QMenu(self.kohya_button)
        kmenu.addAction("Import a kohya folder (img/10_name)…", self.import_kohya_dialog)
        kmenu.addAction("Export for kohya…", self.export_kohya_dialog)
        self.kohya_button.setMenu(kmenu)

        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        # Window-wide: the main window puts these actions in its Edit menu (one app-wide history).
        self.undo_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.undo_action.triggered.connect(self.undo)
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.redo_action.triggered.connect(self.redo)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)
        undo_button = QToolButton()
        undo_button.setDefaultAction(self.undo_action)
        redo_button = QToolButton()
        redo_button.setDefaultAction(self.redo_action)
        self._update_undo_actions()

        self.job_label = QLabel()
        self.job_label.setProperty("muted", True)
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(180)
        self.job_bar.setMaximumHeight(12)
        self.job_bar.setTextVisible(False)
        self.job_cancel = QPushButton("Stop")
        self.job_cancel.clicked.connect(self._cancel_job)
        for w in (self.job_bar, self.job_cancel):
            w.hide()

        bar = QHBoxLayout()
        bar.addWidget(self.add_button)
        bar.addWidget(self.kohya_button)
        bar.addWidget(self.autocaption_button)
        bar.addSpacing(12)
        bar.addWidget(undo_button)
        bar.addWidget(redo_button)
        bar.addStretch(1)
        bar.addWidget(self.job_label)
        bar.addWidget(self.job_bar)
        bar.addWidget(self.job_cancel)
        return bar

    # -- project -------------------------------------------------------------------------------
    @Slot(object)
    def set_project(self, project: object) -> None:
        self.caption_editor.commit()
        self.mask_painter.flush()
        self.project = project if isinstance(project, proj.Project) else None
        self.history.clear()
        self._counts = None
        self.loader.cancel_all()
        self.model.set_rows([], prefetch=False)
        self.model.set_issues([])
        self.check.set_issues([])
        self.concepts.set_project(self.project)
        self.stack.setCurrentIndex(1 if self.project is not None else 0)
        self._show_row(None)
        if self.project is not None:
            self.rescan()

    def rescan(self) -> None:
        """Read every picture's caption and size again (in the background)."""
        if self.project is None:
            return
        if self._job is not None:
            self._rescan_pending = True
            return
        current = self.grid.current_row()
        self._restore = (current.path if current else None, [r.path for r in self.grid.selected_rows()])
        project = self.project
        self._start_job(
            lambda reporter, control: scan_project(project, reporter, control),
            "Reading pictures",
            self._on_scanned,
        )

    def _on_scanned(self, rows: list[ImageRow]) -> None:
        self.model.set_rows(rows)
        if self._issues:
            self.model.set_issues(self._issues)
        counter = Counter(r.concept for r in rows)
        counts = {c.name: counter.get(c.name, 0) for c in self.project.concepts} if self.project else {}
        self.concepts.set_counts(counts)
        if self._counts is not None and counts != self._counts:
            self._notify_modified()  # pictures were added or removed: other panels' step maths change
        self._counts = counts
        self.grid.refilter()
        current, selected = self._restore
        for path in selected:
            self.grid.select_path(path)
        if current is not None:
            self.grid.select_path(current)
        if len(rows) > 300:
            self._freq_timer.start()  # after the grid has painted (tag counts over every caption)
        else:
            self._update_frequency()

    # -- background jobs -----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._job is not None

    def _start_job(self, fn: JobFunction, name: str, done: object, *, failed: object = None) -> bool:
        if self._job is not None:
            self._set_status(f"Please wait: {self._job.name.lower()} is still running.")
            return False
        worker = Worker(fn, name=name, gpu=False)
        worker.event.connect(self._on_job_event)
        worker.finished.connect(done)
        worker.failed.connect(failed or self._on_job_failed)
        worker.ended.connect(self._on_job_ended)
        self._job = worker
        self.loader.set_quiet(True)  # leave the import/scan thread a core; thumbnails go on slower
        self.job_label.setText(f"{name}…")
        self.job_bar.setRange(0, 0)
        self.job_bar.show()
        self.job_cancel.show()
        self.context.jobs.start(worker)
        return True

    @Slot(object)
    def _on_job_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.job_bar.setRange(0, max(1, event.total))
            self.job_bar.setValue(event.done)
            if event.text:
                self.job_label.setText(event.text)
            if self._job is not None and self._job.name == "Checking the dataset":
                self.check.set_progress(event.done, event.total)
        elif isinstance(event, IssuesFound):
            self._issues.extend(event.issues)

    @Slot(object)
    def _on_job_failed(self, info: ErrorInfo) -> None:
        self._set_status(info.message)
        show_error(info, self)

    @Slot()
    def _on_job_ended(self) -> None:
        self._job = None
        self.loader.set_quiet(False)
        self.job_bar.hide()
        self.job_cancel.hide()
        self.job_label.setText(self._status_text)
        if self.check._running:
            self.check.set_running(False)
        if self._rescan_pending:
            self._rescan_pending = False
            self.rescan()

    def _cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.job_label.setText("Stopping…")

    def _set_status(self, text: str) -> None:
        """A result for the user; it stays after the job that wrote it (progress text does not)."""
        self._status_text = text
        self.job_label.setText(text)

    def _show_exception(self, exc: LoraStudioError) -> None:
        self._set_status(exc.message)
        show_error(ErrorInfo.from_exception(exc, title="That didn't work"), self)

    # -- adding pictures -----------------------------------------------------------------------
    def _set_copy_into_project(self, copy: bool) -> None:
        self.copy_into_project = copy
        settings = self.context.settings
        if settings.copy_images_on_import != copy:
            self.context.update_settings(dataclasses.replace(settings, copy_images_on_import=copy))

    def add_pictures_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add pictures", "", "Pictures (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*)"
        )
        if files:
            self.import_files([Path(f) for f in files], self._target_concept())

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of pictures")
        if folder:
            self.import_files([Path(folder)], self._target_concept())

    def _target_concept(self) -> str | None:
        return self.concepts.current_concept()

    def import_files(self, paths: list[Path], concept: str | None) -> bool:
        """Add ``paths`` (files or folders) to ``concept``; None makes a new concept for them."""
        if self.project is None or not paths:
            return False
        if self._job is not None:
            self._set_status(f"Please wait: {self._job.name.lower()} is still running.")
            return False
        if concept is None:
            folder = next((p for p in paths if p.is_dir()), None)
            concept = self.concepts.new_concept(folder.name if folder else "New concept", edit=False)
            if concept is None:
                return False
        project, copy = self.project, self.copy_into_project
        target = concept

        def run(reporter, control):  # noqa: ANN001, ANN202
            return proj.add_images(project, target, paths, copy=copy, reporter=reporter, control=control)

        self.concepts.select(concept)
        return self._start_job(run, "Adding pictures", self._on_added)

    @Slot(object)
    def _on_added(self, result: proj.AddResult) -> None:
        text = f"Added {len(result.added)} picture{'s' if len(result.added) != 1 else ''}."
        if result.skipped:
            first = result.skipped[0]
            text += f" Skipped {len(result.skipped)} (for example {first[0].name}: {first[1]})."
        self._set_status(text)
        self._rescan_pending = True

    def _on_files_dropped(self, concept: str | None, paths: list[Path]) -> None:
        self.import_files(paths, concept)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self.project is not None and dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        self.dragEnterEvent(event)  # type: ignore[arg-type]

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = dropped_paths(event)
        if self.project is None or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.import_files(paths, self.concepts.current_concept())

    def add_image_to_concept(self, path: str | Path, concept: str, caption: str = "") -> Path:
        """Copy a picture (e.g. a generated one) into ``concept`` with ``caption``; made if missing.

        For other panels ("Send to dataset"). Returns the copy's path.
        """
        if self.project is None:
            raise proj.DatasetError("Open a project first.", hint="Use File → New project or Open project.")
        if concept not in {c.name for c in self.project.concepts}:
            proj.add_concept(self.project, concept)
            self.concepts.reload()
        dest = proj.send_to_dataset(self.project, concept, path, caption)
        self.rescan()
        return dest

    # -- kohya ---------------------------------------------------------------------------------
    def import_kohya_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pick the kohya folder (the one that holds img/ or 10_name folders)")
        if folder:
            self.import_kohya(Path(folder))

    def import_kohya(self, folder: Path) -> bool:
        if self.project is None:
            return False
        project = self.project
        return self._start_job(
            lambda r, c: import_kohya(folder, project, reporter=r, control=c),
            "Importing kohya folders",
            self._on_kohya_imported,
        )

    def _on_kohya_imported(self, result: object) -> None:
        added = sum(len(a.added) for a in result.added)  # type: ignore[attr-defined]
        skipped = list(result.skipped_files)  # type: ignore[attr-defined]
        for path, reason in skipped:
            log.warning("Import skipped %s: %s", path, reason)
        for note in result.notes:  # type: ignore[attr-defined]
            log.warning("Import: %s", note)
        extra = ""
        if skipped:
            names = ", ".join(p.name for p, _ in skipped[:5]) + (" …" if len(skipped) > 5 else "")
            extra = f" Skipped {len(skipped)} file(s) ({names}); the log says why for each."
        self._set_status(f"Imported {added} pictures from kohya folders.{extra}")
        self.concepts.reload()
        self._rescan_pending = True

    def export_kohya_dialog(self) -> None:
        if self.project is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export into which folder? (a new folder is made inside)")
        if folder:
            self.export_kohya(Path(folder) / f"{self.project.name or 'dataset'} (kohya)")

    def export_kohya(self, target: Path) -> bool:
        if self.project is None:
            return False
        project = self.project
        return self._start_job(
            lambda r, c: export_kohya(project, target, reporter=r, control=c),
            "Exporting for kohya",
            lambda result: self._set_status(
                f"Exported {result.images} pictures to {result.root}"
                + (f" ({result.cropped} cropped, saved as PNG)." if result.cropped else ".")
            ),
        )

    # -- concepts ------------------------------------------------------------------------------
    def _on_concept_selected(self, concept: str | None) -> None:
        self.grid.set_concept(concept)

    def _notify_modified(self) -> None:
        self._notifying = True
        try:
            self.context.notify_project_modified()
        finally:
            self._notifying = False

    @Slot()
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
        shown = {(r.concept, r.path.parent.relative_to(self.project.root).as_posix()) for r in self.model.rows() if not Path(r.key).is_absolute()}
        if not shown <= known:  # a concept was renamed or removed: its paths changed
            self.rescan()

    # -- current picture -----------------------------------------------------------------------
    def _on_current_row(self, row: ImageRow | None) -> None:
        self._show_row(row)

    def _on_selection(self, rows: list[ImageRow]) -> None:
        self.crop_editor.set_selection_count(len(rows))

    def _show_row(self, row: ImageRow | None) -> None:
        self.caption_editor.set_row(row)
        if row is not None:
            index = self.model.index_of_path(row.path)
            thumb = self.model.thumbnail(index.row()) if index.isValid() else None
            self.caption_editor.set_preview(QPixmap.fromImage(thumb) if thumb is not None else None)
        self.crop_editor.set_row(row)
        self.mask_painter.set_row(row)
        self._preview_for = None
        self._load_preview_if_needed()

    def _on_tab_changed(self, _index: int) -> None:
        self._load_preview_if_needed()
        if self.editors.currentIndex() != TAB_CAPTION:
            self.caption_editor.commit()

    def _load_preview_if_needed(self) -> None:
        row = self.grid.current_row()
        if row is None or row.error or self.editors.currentIndex() not in (TAB_CROP, TAB_MASK):
            return
        if self._preview_for == row.path:
            return
        self._preview_for = row.path
        self.previews.load(row.path, row.mask, row.erase, row.erased)

    def _on_preview_loaded(self, request: int, preview: Preview) -> None:
        if request != self.previews.latest:
            return
        row = self.grid.current_row()
        if row is None or row.path != preview.path:
            return
        self.crop_editor.set_image(row, preview.image, preview.size)
        self.mask_painter.set_image(row, preview.image, preview.size, preview.mask, preview.erase, preview.erased)
        if preview.mask_error:
            self._set_status(preview.mask_error)

    def _on_preview_failed(self, request: int, path: Path, text: str) -> None:
        if request == self.previews.latest:
            self.crop_editor.canvas.set_message(text)
            self.mask_painter.canvas.set_message(text)

    # -- captions ------------------------------------------------------------------------------
    def _on_caption_edited(self, row: ImageRow, text: str) -> None:
        try:
            self.history.push(edits.set_caption_edit(row.caption_path, text, f"Edit caption of {row.name}"))
        except LoraStudioError as exc:
            self._show_exception(exc)

    def _on_captions_written(self, paths: list[Path]) -> None:
        changed = self.model.refresh_captions(paths)
        current = self.grid.current_row()
        if current is not None:
            for r in changed:
                if r.path == current.path:
                    self.caption_editor.set_row(r)
        self._freq_timer.start()

    def _update_frequency(self) -> None:
        rows = self.model.rows()
        freq = cap.tag_frequency(r.caption for r in rows)
        self.caption_editor.set_frequency(freq)
        self.tag_tools.set_frequency(cap.frequency_table(r.caption for r in rows), len(rows))

    def undo(self) -> None:
        if self.editors.currentIndex() == TAB_MASK and self.mask_painter.can_undo:
            self.mask_painter.undo()
            return
        self.caption_editor.commit()
        self._history_step(self.history.undo)

    def redo(self) -> None:
        self._history_step(self.history.redo)

    def _history_step(self, step: object) -> None:
        try:
            edit = step()  # type: ignore[operator]
        except LoraStudioError as exc:
            self._show_exception(exc)
            return
        if edit is not None:
            self._set_status(f"{edit.label}: {len(edit.changes)} caption(s) changed back." if step == self.history.undo else f"{edit.label} again.")

    def _update_undo_actions(self) -> None:
        h = self.history
        self.undo_action.setEnabled(h.can_undo)
        self.redo_action.setEnabled(h.can_redo)
        self.undo_action.setText(f"Undo {h.undo_label}" if h.can_undo else "Undo")
        self.redo_action.setText(f"Redo {h.redo_label}" if h.can_redo else "Redo")
        self.undo_action.setToolTip(self.undo_action.text() + " (Ctrl+Z)")
        self.redo_action.setToolTip(self.redo_action.text() + " (Ctrl+Shift+Z)")

    # -- auto-captioning ------------------------------------------------------------------------
    def auto_caption_dialog(self) -> AutoCaptionDialog | None:
        """Open the Auto-caption dialog (not modal) for the selection, the concept or everything."""
        if self.project is None:
            return None
        self.caption_editor.commit()
        if self._autocaption is not None and self._autocaption.running:
            self._autocaption.raise_()
            self._autocaption.activateWindow()
            return self._autocaption
        rows = self.model.rows()
        current = self.grid.current_row()
        concept = self.concepts.current_concept() or (current.concept if current else None)
        scopes = [CaptionScope("selection", "Selected pictures", tuple(self.grid.selected_rows()))]
        if concept is not None:
            scopes.append(
                CaptionScope("concept", f"Every picture of “{concept}”", tuple(r for r in rows if r.concept == concept))
            )
        scopes.append(CaptionScope("all", "Every picture in the project", tuple(rows)))
        triggers = {c.name: c.trigger for c in self.project.concepts}
        if self._autocaption is not None:
            self._autocaption.deleteLater()
        dialog = AutoCaptionDialog(self.context, self.history, scopes, triggers, self)
        if len(scopes) > 2 and len(scopes[0].rows) < 2:
            dialog.set_scope("concept")  # one picture selected: usually the whole concept is meant
        dialog.applied.connect(self._set_status)
        self._autocaption = dialog
        dialog.show()
        return dialog

    @Slot(object)
    def run_bulk(self, request: BulkRequest) -> None:
        self.caption_editor.commit()
        rows = self._rows_in_scope(request.scope)
        if not rows:
            self.tag_tools.show_result("No pictures to change: select some first.")
            return
        triggers = {c.name: c.trigger for c in self.project.concepts} if self.project else {}
        try:
            edit = bulk_edit(request.operation.value, rows, request.first, request.second, triggers)
            self.history.push(edit)
        except LoraStudioError as exc:
            self.tag_tools.show_result(exc.message)
            return
        text = f"Changed {len(edit.changes)} of {len(rows)} captions." if edit.changes else "Nothing needed changing."
        if edit.skipped:
            text += f" Left {len(edit.skipped)} alone ({edit.skipped[0][1]})."
        self.tag_tools.show_result(text)

    def _rows_in_scope(self, scope: Scope) -> list[ImageRow]:
        if scope == Scope.SELECTED:
            return self.grid.selected_rows()
        if scope == Scope.SHOWN:
            return self.grid.visible_rows()
        if scope == Scope.CONCEPT:
            current = self.grid.current_row()
            concept = self.concepts.current_concept() or (current.concept if current else None)
            return [r for r in self.model.rows() if r.concept == concept]
        return self.model.rows()

    # -- crops and masks -----------------------------------------------------------------------
    def _on_crop_changed(self, row: ImageRow, crop: object) -> None:
        if self.project is None:
            return
        try:
            proj.set_crop(self.project, row.concept, row.key, crop)  # type: ignore[arg-type]
        except LoraStudioError as exc:
            self._show_exception(exc)
            return
        updated = dataclasses.replace(row, crop=crop)
        self.model.replace_row(updated)
        self.crop_editor.row = updated
        self._steps_timer.start()

    def _on_batch_crop(self, mode: str, aspect: float | None, resolution: int) -> None:
        if self.project is None:
            return
        buckets = buckets_for(resolution)
        done = 0
        for row in self.grid.selected_rows():
            if not row.width or row.error:
                continue
            if mode == "fit" or aspect is None:
                bw, bh = nearest_bucket(row.width, row.height, buckets)
                box = center_crop_box(row.width, row.height, bw / bh)
            else:
                box = center_crop_box(row.width, row.height, aspect)
            crop = None if (box.width, box.height) == (row.width, row.height) else box
            self._on_crop_changed(row, crop)
            done += 1
        current = self.grid.current_row()
        if current is not None:
            self.crop_editor.set_row(current)
            self._preview_for = None
            self._load_preview_if_needed()
        self._set_status(f"Cropped {done} picture{'s' if done != 1 else ''}.")

    def _on_mask_changed(self, row: ImageRow, mask: object) -> None:
        if self.project is None:
            return
        try:
            path = proj.set_mask(self.project, row.concept, row.key, mask)  # type: ignore[arg-type]
        except LoraStudioError as exc:
            self._show_exception(exc)
            return
        updated = dataclasses.replace(row, mask=path)
        self.model.replace_row(updated)
        self.mask_painter.row = updated

    def _on_erase_changed(self, row: ImageRow, region: object) -> None:
        if self.project is not None:
            self.erasers.run(self.project, row, region)  # type: ignore[arg-type]

    def _on_erase_done(self, project: proj.Project, row: ImageRow, files: object, preview: object) -> None:
        try:
            proj.record_erase(project, row.concept, row.key, files)  # type: ignore[arg-type]
        except LoraStudioError as exc:
            self._show_exception(exc)
            return
        if project is not self.project:
            return
        updated = read_row(project, row.concept, row.key)
        self.model.replace_row(updated)
        self.mask_painter.set_result(updated, preview)  # type: ignore[arg-type]
        self._set_status(
            f"Erased a region of {row.name}: training uses the cleaned copy."
            if updated.erased is not None
            else f"{row.name} is trained as it is again."
        )

    def _on_erase_failed(self, row: ImageRow, text: str) -> None:
        self.mask_painter.set_result(row, None)
        self._set_status(text)

    # -- check ---------------------------------------------------------------------------------
    def run_check(self) -> bool:
        if self.project is None:
            return False
        self.caption_editor.commit()
        self.mask_painter.flush()
        self._issues = []
        project, resolution = self.project, self.crop_editor.train_resolution()
        started = self._start_job(check_job(project, resolution), "Checking the dataset", self._on_checked)
        if started:
            self.check.set_running(True)
        return started

    def _on_checked(self, issues: list[Issue]) -> None:
        self._issues = list(issues)
        self.model.set_issues(self._issues)
        names = {}
        for issue in self._issues:
            row = self.model.resolve(issue.path)
            if row is not None:
                names[issue.path] = f"{row.name} ({row.concept})"
        self.check.set_issues(self._issues, names)
        self.grid.refilter()

    @Slot(object)
    def apply_fix(self, issue: Issue) -> None:
        row = self.model.resolve(issue.path)
        try:
            if issue.fix == Fix.CONVERT_CAPTION_UTF8 and issue.path is not None:
                self.history.push(edits.convert_to_utf8_edit([issue.path]))
            elif issue.fix == Fix.RESET_CROP and row is not None:
                self._on_crop_changed(row, None)
            elif issue.fix == Fix.ALPHA_TO_MASK and row is not None and self.project is not None:
                _, alpha = load_rgb_and_alpha(row.path)
                self._on_mask_changed(row, alpha)
            elif issue.fix == Fix.REMOVE_ITEM and row is not None and self.project is not None:
                answer = QMessageBox.question(
                    self, "Remove picture?", f"Take {row.name} out of the dataset? It moves to the project's .trash folder."
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
                proj.remove_items(self.project, row.concept, [row.key])
                self.rescan()
            elif issue.fix in (Fix.WRITE_CAPTION, Fix.SHORTEN_CAPTION) and row is not None:
                self._show_issue(issue)
                self.editors.setCurrentIndex(TAB_CAPTION)
                self.caption_editor.text.setFocus()
                return
            elif issue.fix == Fix.SET_REPEATS:
                self.concepts.select(issue.concept or None)
                self.concepts.repeats.setFocus()
                return
            elif issue.fix == Fix.ADD_IMAGES:
                self.add_pictures_dialog()
                return
            else:
                return
        except LoraStudioError as exc:
            self._show_exception(exc)
            return
        self._issues = [i for i in self._issues if i != issue]
        self._on_checked(self._issues)
        self._set_status("Fixed.")

    def _show_issue(self, issue: Issue) -> None:
        row = self.model.resolve(issue.path)
        if row is None:
            return
        if not self.grid.select_path(row.path):
            self.concepts.select(None)
            self.grid.set_tag_filter("")
            self.grid.select_path(row.path)
