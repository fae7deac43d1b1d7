"""The Generation tab: try LoRAs on a base model, keep the results, compare them in grids, bake them.

Importing this module stays light (no torch): the engine is imported inside worker functions.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.generation.gallery_widget import GalleryEntry, GalleryWidget, history_job
from lora_studio.app.panels.generation.generation_settings_widget import GenerationSettingsWidget
from lora_studio.app.panels.generation.init_image_widget import dropped_image
from lora_studio.app.panels.generation.lora_mixer_widget import LoraMixerWidget
from lora_studio.app.panels.generation.model_picker_widget import ModelPickerWidget
from lora_studio.app.panels.generation.prompt_editor_widget import PromptEditorWidget
from lora_studio.app.state import AppContext
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.errors import GenerationError, LoraStudioError
from lora_studio.core.events import Event, ImageReady, PreviewReady, Progress, StatusChanged
from lora_studio.generation import jobs
from lora_studio.generation.generation_memory import GenerationMemory
from lora_studio.generation.model_library import Library, LoraItem, ModelItem
from lora_studio.generation.request import (
    GenerationRequest,
    extract_lora_tags,
    read_lora_tags,
    remove_lora_tag,
    set_lora_tag,
)
from lora_studio.generation.restore import restore_request

log = logging.getLogger(__name__)


class GenerationPanel(QWidget):
    title = "Generation"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setAcceptDrops(True)
        self.library = Library()
        self.memory = GenerationMemory.load(context.project_path)
        self.engine = jobs.EngineHolder(context.settings.device)
        self._workers: dict[str, Worker] = {}
        self._job_kind = ""
        self._images_this_job = 0
        self._seconds_per_image: float | None = None
        self._grid_dialog: Any = None
        self._loaded_native: int | None = None

        self.model_picker = ModelPickerWidget()
        self.mixer = LoraMixerWidget()
        self.grid_button = QPushButton("Compare in a grid…")
        self.grid_button.setToolTip("Make a labelled grid across epochs, strengths, seeds, prompts …")
        self.bake_button = QPushButton("Bake into model…")
        self.bake_button.setToolTip("Save a copy of the model with the LoRAs in use built in")
        left = QWidget()
        left_column = QVBoxLayout(left)
        left_column.setContentsMargins(10, 10, 6, 10)
        left_column.addWidget(self.model_picker)
        left_column.addSpacing(6)
        left_column.addWidget(self.mixer, 1)
        tools = QHBoxLayout()
        tools.addWidget(self.grid_button)
        tools.addWidget(self.bake_button)
        left_column.addLayout(tools)

        self.prompt_editor = PromptEditorWidget()
        self.settings_widget = GenerationSettingsWidget()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setProperty("primary", True)
        self.generate_button.setMinimumHeight(36)
        self.generate_button.setShortcut("Ctrl+Return")
        self.generate_button.setToolTip("Make pictures (Ctrl+Enter)")
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setMinimumHeight(36)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setProperty("muted", True)
        settings_scroll = QScrollArea()
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        settings_scroll.setWidget(self.settings_widget)
        middle = QWidget()
        middle_column = QVBoxLayout(middle)
        middle_column.setContentsMargins(6, 10, 6, 10)
        middle_column.addWidget(self.prompt_editor, 2)
        middle_column.addWidget(settings_scroll, 3)
        run_row = QHBoxLayout()
        run_row.addWidget(self.generate_button, 1)
        run_row.addWidget(self.cancel_button)
        middle_column.addLayout(run_row)
        middle_column.addWidget(self.progress)
        middle_column.addWidget(self.status)

        self.gallery = GalleryWidget()
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(6, 10, 10, 10)
        right_column.addWidget(self.gallery)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (left, middle, right):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setChildrenCollapsible(False)
        left.setMinimumWidth(300)
        middle.setMinimumWidth(400)
        right.setMinimumWidth(320)
        self._sized = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(800)
        self._save_timer.timeout.connect(self.memory_save)

        self.model_picker.model_changed.connect(self._on_model_changed)
        self.model_picker.load_requested.connect(self.load_model)
        self.mixer.changed.connect(self._on_mixer_changed)
        self.mixer.info_requested.connect(self.show_lora_info)
        self.mixer.refresh_requested.connect(self.refresh_library)
        self.prompt_editor.prompt_edited.connect(self._on_prompt_edited)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        self.grid_button.clicked.connect(self.open_grid)
        self.bake_button.clicked.connect(self.open_bake)
        self.gallery.reuse_settings_requested.connect(self._reuse_settings)
        self.gallery.reuse_seed_requested.connect(self.settings_widget.set_seed)
        self.gallery.send_to_dataset_requested.connect(self.send_to_dataset)
        self.gallery.use_as_init_requested.connect(self.settings_widget.init_image.set_image)
        context.project_changed.connect(self._on_project_changed)
        context.settings_changed.connect(self._on_settings_changed)
        context.jobs.busy_changed.connect(self._update_buttons)

        self.prompt_editor.set_history(self.memory.history)
        self._update_buttons()
        self.refresh_library()
        self._load_history()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._sized:  # first show: the real width is known now
            self._sized = True
            width = max(self.width(), 1100)
            self.splitter.setSizes([round(width * 0.27), round(width * 0.36), width - round(width * 0.63)])

    # -- jobs ------------------------------------------------------------------------------------
    def _start(self, key: str, fn: Any, name: str, on_finished: Any, *, gpu: bool = False) -> Worker | None:
        worker = Worker(fn, name=name, gpu=gpu)
        worker.finished.connect(on_finished)
        if gpu:
            worker.event.connect(self._on_event)
            worker.failed.connect(self._on_failed)
            worker.cancelled.connect(self._on_cancelled)
        else:
            worker.failed.connect(self._on_background_failed)
        worker.ended.connect(self._on_ended)
        try:
            self.context.jobs.start(worker)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title=f"{name} can't start"), self)
            return None
        self._workers[key] = worker
        if gpu:
            self._job_kind = key
            self._images_this_job = 0
            self.progress.setRange(0, 0)
            self._update_buttons()
        return worker

    def is_generating(self) -> bool:
        return any(w.gpu and w.is_running for w in self._workers.values())

    def cancel(self) -> None:
        for worker in self._workers.values():
            if worker.gpu:
                worker.cancel()
        self.status.setText("Stopping after this step…")

    @Slot()
    def _on_ended(self) -> None:
        self._workers = {k: w for k, w in self._workers.items() if w.is_running}
        if not self.is_generating():
            self._job_kind = ""
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            if self._grid_dialog is not None:
                self._grid_dialog.set_running(False)
        self._update_buttons()

    @Slot(object)
    def _on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            if self._job_kind == "grid" and event.text.startswith("Grid cell"):
                if self._grid_dialog is not None:
                    self._grid_dialog.show_progress(event.done, event.total)
                return
            self.progress.setRange(0, max(1, event.total))
            self.progress.setValue(event.done)
            if event.text:
                self.status.setText(event.text)
        elif isinstance(event, StatusChanged):
            self.status.setText(event.text)
        elif isinstance(event, PreviewReady) and self._job_kind == "generate":
            self.gallery.show_preview(
                QImage.fromData(event.png), f"Preview at step {event.step} of {event.total}…"
            )
        elif isinstance(event, ImageReady) and self._job_kind == "generate":
            self._images_this_job += 1
            self.gallery.add_entry(GalleryEntry(Path(event.path), event.seed, event.infotext))
            self.settings_widget.set_last_seed(event.seed)

    @Slot(object)
    def _on_failed(self, info: ErrorInfo) -> None:
        self.status.setText(info.message)
        show_error(info, self)

    @Slot(object)
    def _on_background_failed(self, info: ErrorInfo) -> None:
        log.warning("%s: %s", info.title, info.message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.status.setText("Stopped.")

    def _update_buttons(self, *_: object) -> None:
        mine = self.is_generating()
        other = self.context.jobs.is_busy and not mine
        has_model = self.model_picker.current() is not None
        self.generate_button.setEnabled(not mine and not other and has_model)
        self.cancel_button.setEnabled(mine)
        self.model_picker.set_busy(mine or other)
        self.grid_button.setEnabled(not mine and not other and has_model)
        self.bake_button.setEnabled(not mine and not other and has_model and bool(self.mixer.enabled_rows()))
        if other and (job := self.context.jobs.current_gpu_job()) is not None:
            self.status.setText(f"The graphics card is busy: {job.name}. Generate is available when it ends.")

    # -- library ---------------------------------------------------------------------------------
    def lora_dirs(self) -> list[Path]:
        dirs = list(self.context.settings.lora_folders())
        return dirs + [d for d in self.library.lora_folders() if d not in dirs]

    def refresh_library(self) -> None:
        if "scan" in self._workers:
            return
        settings = self.context.settings
        fn = jobs.scan_job(settings.checkpoint_folders(), settings.lora_folders(), self.context.project_path)
        self._start("scan", fn, "Looking for models", self._on_library)

    @Slot(object)
    def _on_library(self, library: Library) -> None:
        self.library = library
        self.mixer.set_loras(library.loras, self.memory.weight)
        prefer = self.model_picker.current()
        project_models = [m for m in library.models if m.source == "project"]
        self.model_picker.set_models(
            library.models, prefer.path if prefer else (project_models[0].path if project_models else None)
        )
        self._on_prompt_edited(self.prompt_editor.prompt.text)
        self._update_buttons()

    def _on_model_changed(self, item: ModelItem | None) -> None:
        family = item.family if item else None
        self.mixer.set_model_family(family)
        native = None
        if item is not None and self.model_picker.is_current_loaded():
            native = self._loaded_native
        self.settings_widget.set_family(family, native)
        self._update_buttons()

    def load_model(self) -> None:
        item = self.model_picker.current()
        if item is None:
            return
        self._start(
            "generate",
            jobs.load_model_job(self.engine, str(item.path), self.lora_dirs()),
            "Loading the model",
            self._on_model_loaded,
            gpu=True,
        )

    @Slot(object)
    def _on_model_loaded(self, loaded: jobs.ModelReady) -> None:
        self._loaded_native = loaded.native_size
        self.model_picker.set_loaded(loaded.path, loaded.load_seconds)
        self.settings_widget.set_family(loaded.family, loaded.native_size)
        took = f" in {loaded.load_seconds:.1f} s" if loaded.load_seconds else ""
        self.status.setText(f"{loaded.path.name} is loaded{took}.")

    def show_lora_info(self, item: LoraItem) -> None:
        from lora_studio.app.panels.generation.lora_info_dialog import LoraInfoDialog

        dialog = LoraInfoDialog(item, self)
        dialog.insert_requested.connect(self.prompt_editor.insert_words)
        dialog.exec()

    # -- prompt <-> mixer ------------------------------------------------------------------------
    def _on_mixer_changed(self, name: str, enabled: bool, weight: float) -> None:
        self.memory.set_weight(name, weight)
        self._save_timer.start()
        text = self.prompt_editor.prompt.text
        text = set_lora_tag(text, name, weight) if enabled else remove_lora_tag(text, name)
        self.prompt_editor.set_prompt(text)
        self._update_buttons()

    def _on_prompt_edited(self, text: str) -> None:
        tags = {t.name.lower(): t for t in read_lora_tags(text)}
        unknown = [t.name for key, t in tags.items() if self.mixer.row(key) is None]
        for key, row in self.mixer.rows.items():
            tag = tags.get(key)
            if tag is not None and (not row.enabled or abs(row.weight - tag.weight) > 1e-6):
                self.mixer.set_lora(key, True, tag.weight)
                self.memory.set_weight(row.name, tag.weight)
                self._save_timer.start()
            elif tag is None and row.enabled:
                self.mixer.set_lora(key, False)
        if unknown and self.library.loras:
            self.status.setText("Not in your LoRA folders: " + ", ".join(unknown) + ".")
        self._update_buttons()

    # -- generate --------------------------------------------------------------------------------
    def output_dir(self) -> Path:
        name = self.context.project_name or "images"
        return self.context.settings.output_folder() / name / time.strftime("%Y-%m-%d")

    def build_request(self) -> GenerationRequest:
        """The request the controls describe; raises GenerationError with plain words."""
        self.prompt_editor.flush()
        item = self.model_picker.current()
        if item is None:
            raise GenerationError(
                "Choose a base model first.", hint="Models come from the folders set in Settings."
            )
        prompt, tags = extract_lora_tags(self.prompt_editor.prompt.text)
        unknown = [t.name for t in tags if self.mixer.row(t.name) is None]
        if unknown:
            raise GenerationError(
                f"The prompt names a LoRA that isn't in your LoRA folders: {', '.join(unknown)}.",
                hint="Fix the name in the prompt, or put the file in a LoRA folder and press Refresh.",
            )
        fields = self.settings_widget.request_fields()
        steps = int(fields["steps"])
        request = GenerationRequest(
            model=str(item.path), prompt=prompt, negative=self.prompt_editor.negative.text.strip(),
            loras=self.mixer.enabled_specs(), output_dir=str(self.output_dir()),
            preview_every=max(1, steps // 8), **fields,
        )  # fmt: skip
        problems = request.validate()
        if problems:
            raise GenerationError(problems[0], hint=" ".join(problems[1:]))
        return request

    def generate(self) -> None:
        try:
            request = self.build_request()
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Can't generate yet"), self)
            return
        self.memory.add_prompt(self.prompt_editor.prompt.text, request.negative)
        self.prompt_editor.set_history(self.memory.history)
        self._save_timer.start()
        model = Path(request.model)
        if not self.engine.is_loaded(model):
            self.status.setText(f"Loading {model.name} first — this takes a moment the first time…")
        else:
            self.status.setText("Generating…")
        self._start(
            "generate",
            jobs.generate_job(self.engine, request, self.lora_dirs()),
            "Generating pictures",
            self._on_generated,
            gpu=True,
        )

    @Slot(object)
    def _on_generated(self, outcome: jobs.GenerateOutcome) -> None:
        self._on_model_loaded(outcome.model)
        count = len(outcome.result.paths)
        if count:
            self._seconds_per_image = max(0.01, (outcome.seconds - outcome.model.load_seconds) / count)
        warnings = " ".join(outcome.result.warnings)
        self.status.setText(
            f"Done: {count} picture{'s' if count != 1 else ''} in {outcome.seconds:.1f} s. {warnings}".strip()
        )
        self.gallery.show_current()

    # -- restoring settings ----------------------------------------------------------------------
    def apply_infotext(self, text: str) -> list[str]:
        """Put a picture's settings into the controls; returns plain-words notes on what's missing."""
        current = self.settings_widget.request_fields()
        base = GenerationRequest(
            model="", prompt="", **{k: v for k, v in current.items() if k in ("batch_count", "batch_size")}
        )
        request, notes = restore_request(text, self.library, self.lora_dirs(), base)
        model = self.library.model_named(request.model) if request.model else None
        if model is not None:
            self.model_picker.select_path(model.path)
        elif request.model:
            notes.append(f"The model “{request.model}” isn't in your model folders; the current one stays.")
        for row in self.mixer.rows.values():
            if row.enabled:
                self.mixer.set_lora(row.name, False)
        prompt = request.prompt
        for spec in request.loras:
            self.mixer.set_lora(spec.name, True, spec.weight)
            prompt = set_lora_tag(prompt, spec.name, spec.weight)
        self.prompt_editor.set_prompt(prompt)
        self.prompt_editor.set_negative(request.negative)
        self.settings_widget.apply_request(request)
        self.mixer.sort_rows()
        self.status.setText("Settings restored." + (" " + " ".join(notes) if notes else ""))
        self._update_buttons()
        return notes

    def _reuse_settings(self, entry: GalleryEntry) -> None:
        self.apply_infotext(entry.infotext)

    def restore_from_file(self, path: Path) -> None:
        from lora_studio.formats.infotext import read_png_parameters

        try:
            text = read_png_parameters(path)
        except (OSError, ValueError) as exc:
            self.status.setText(f"Could not read {path.name}: {exc}")
            return
        if not text:
            self.settings_widget.init_image.set_image(path)
            self.status.setText(f"{path.name} has no stored settings, so it became the start picture.")
            return
        self.apply_infotext(text)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_image(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            self.restore_from_file(path)

    # -- send to dataset, grid, bake -------------------------------------------------------------
    def send_to_dataset(self, entry: GalleryEntry) -> None:
        from lora_studio.app.panels.generation.send_to_dataset_dialog import SendToDatasetDialog

        project = self.context.project
        concepts = [c.name for c in getattr(project, "concepts", ())] if project is not None else []
        if not concepts:
            show_error(ErrorInfo(
                "There is no dataset to add the picture to yet.",
                "Open a project and add a concept in the Dataset tab first.", title="Send to dataset",
                expected=True,
            ), self)  # fmt: skip
            return
        caption = (
            extract_lora_tags(self.prompt_editor.prompt.text)[0]
            if not entry.infotext
            else restore_caption(entry.infotext)
        )
        dialog = SendToDatasetDialog(concepts, caption, self)
        if dialog.exec():
            self.send_entry(entry, *dialog.chosen())

    def send_entry(self, entry: GalleryEntry, concept: str, caption: str) -> Path | None:
        from lora_studio.dataset.project import send_to_dataset

        try:
            dest = send_to_dataset(self.context.project, concept, entry.path, caption)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Send to dataset"), self)
            return None
        self.status.setText(f"Added {dest.name} to “{concept}”.")
        self.context.project_changed.emit(self.context.project)  # the Dataset tab refreshes
        return dest

    def open_grid(self) -> None:
        from lora_studio.app.panels.generation.grid_dialog import GridDialog

        enabled = [row.item for row in self.mixer.enabled_rows()]
        dialog = GridDialog(list(self.library.loras), enabled, self)
        dialog.seconds_per_image = self._seconds_per_image
        dialog.run_requested.connect(self.run_grid)
        dialog.cancel_requested.connect(self.cancel)
        self._grid_dialog = dialog
        dialog.show()

    def run_grid(self, axes: list[Any]) -> None:
        try:
            request = self.build_request()
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Can't make the grid yet"), self)
            return
        out = self.output_dir() / "grids" / time.strftime("%H%M%S")
        if (
            self._start(
                "grid",
                jobs.grid_job(self.engine, request, axes, self.lora_dirs(), out),
                "Making a grid",
                self._on_grid_done,
                gpu=True,
            )
            and self._grid_dialog is not None
        ):
            self._grid_dialog.set_running(True)

    @Slot(object)
    def _on_grid_done(self, result: Any) -> None:
        self.status.setText(f"Grid done: {result.cells} pictures.")
        if self._grid_dialog is not None and result.grid_paths:
            self._grid_dialog.show_result(Path(result.grid_paths[0]))

    def open_bake(self) -> None:
        from lora_studio.app.panels.generation.bake_dialog import BakeDialog

        item = self.model_picker.current()
        specs = self.mixer.enabled_specs()
        if item is None or not specs:
            return
        dialog = BakeDialog(item.path, specs, self)
        if dialog.exec():
            self.bake(item.path, specs, dialog.out_path(), dialog.half.isChecked())

    def bake(self, model: Path, specs: Any, out_path: Path, half: bool = True) -> None:
        self._start(
            "bake",
            jobs.bake_job(str(model), specs, out_path, half),
            "Baking LoRAs into the model",
            self._on_baked,
            gpu=True,
        )

    @Slot(object)
    def _on_baked(self, path: Path) -> None:
        self.status.setText(f"Saved the new model as {path}.")
        self.refresh_library()

    # -- context ---------------------------------------------------------------------------------
    def _on_project_changed(self, *_: object) -> None:
        self.memory_save()
        self.memory = GenerationMemory.load(self.context.project_path)
        self.prompt_editor.set_history(self.memory.history)
        self.refresh_library()
        self.gallery.clear()
        self._load_history()

    def _on_settings_changed(self, *_: object) -> None:
        self.engine.device = self.context.settings.device
        self.refresh_library()

    def memory_save(self) -> None:
        self.memory.save()

    @Slot(object)
    def _load_history(self) -> None:
        if (old := self._workers.pop("history", None)) is not None:
            old.finished.disconnect(self._on_history)  # its pictures belong to the previous project
            old.cancel()
        folder = self.context.settings.output_folder() / (self.context.project_name or "images")
        self._start("history", history_job(folder), "Loading earlier pictures", self._on_history)

    @Slot(object)
    def _on_history(self, items: list[tuple[Path, QImage, str]]) -> None:
        from lora_studio.formats.infotext import parse_infotext

        for path, thumb, text in items:
            seed = -1
            try:
                seed = parse_infotext(text).seed or -1 if text else -1
            except Exception:  # noqa: BLE001 - odd text from other tools
                pass
            self.gallery.add_entry(GalleryEntry(path, seed, text), thumb, select=False)
        if items:
            self.gallery.strip.setCurrentRow(0)


def restore_caption(infotext: str) -> str:
    """The prompt of an infotext without LoRA tags (a starting caption)."""
    from lora_studio.formats.infotext import parse_infotext

    try:
        return extract_lora_tags(parse_infotext(infotext).prompt)[0]
    except Exception:  # noqa: BLE001
        return ""
