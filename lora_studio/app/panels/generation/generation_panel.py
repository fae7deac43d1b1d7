"""The Generation tab: try LoRAs on a base model, keep the results, compare them in grids, bake them.

The panel is the view: it builds the widgets, binds them to the tab's :class:`GenerationState` and
hands the work to per-feature controllers (models, requests, gallery). Importing this module stays
light (no torch): the engine is imported inside worker functions.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
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

from lora_studio.app.observable import bind
from lora_studio.app.panels.generation.embedding_list_widget import EmbeddingListWidget, add_reference
from lora_studio.app.panels.generation.gallery_controller import GalleryController
from lora_studio.app.panels.generation.gallery_widget import GalleryWidget
from lora_studio.app.panels.generation.generation_settings_widget import GenerationSettingsWidget
from lora_studio.app.panels.generation.generation_state import GenerationState
from lora_studio.app.panels.generation.init_image_widget import dropped_image
from lora_studio.app.panels.generation.lora_mixer_widget import LoraMixerWidget
from lora_studio.app.panels.generation.lora_selection import bind_mixer, bind_prompt
from lora_studio.app.panels.generation.model_controller import ModelController
from lora_studio.app.panels.generation.model_picker_widget import ModelPickerWidget
from lora_studio.app.panels.generation.prompt_editor_widget import PromptEditorWidget
from lora_studio.app.panels.generation.request_controller import RequestController
from lora_studio.app.panels.generation.tab_jobs import TabJobs
from lora_studio.app.state import AppContext
from lora_studio.generation.generation_memory import GenerationMemory
from lora_studio.generation.request import GenerationRequest, strip_lora_tags

BUSY_PREFIX = "The graphics card is busy: "
GRID_TIP = "Make a labelled grid across epochs, strengths, seeds, prompts …"
BAKE_TIP = "Save a copy of the model with the LoRAs in use built in"


class GenerationPanel(QWidget):
    title = "Generation"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setAcceptDrops(True)
        self.state = GenerationState(context.project_path)
        self.jobs = TabJobs(context.jobs, self)

        self.model_picker = ModelPickerWidget()
        self.mixer = LoraMixerWidget()
        self.grid_button = QPushButton("Compare in a grid…")
        self.grid_button.setToolTip(GRID_TIP)
        self.bake_button = QPushButton("Bake into model…")
        self.bake_button.setToolTip(BAKE_TIP)
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
        self.embeddings = EmbeddingListWidget()
        self.embeddings.add_to_prompt.connect(self._add_embedding_to_prompt)
        self.embeddings.add_to_negative.connect(self._add_embedding_to_negative)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setProperty("primary", True)
        self.generate_button.setMinimumHeight(36)
        self.generate_button.setShortcut("Ctrl+Return")
        self.generate_button.setToolTip("Make pictures (Ctrl+Enter)")
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setMinimumHeight(36)
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop making pictures (only while pictures are being made)")
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
        middle_column.addWidget(self.embeddings)
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

        self.save_timer = QTimer(self)
        self.save_timer.setSingleShot(True)
        self.save_timer.setInterval(800)
        self.save_timer.timeout.connect(self.memory_save)

        state = self.state
        bind(state, "status", self.status, "text", one_way=True)
        bind_prompt(state.selection, self.prompt_editor)
        bind_mixer(state.selection, self.mixer)
        self.models = ModelController(self)
        self.requests = RequestController(self)
        self.gallery_control = GalleryController(self)
        state.selection.choices_changed.connect(self._on_selection_changed)
        self.settings_widget.negative_state.connect(self._on_negative_state)
        context.project_changed.connect(self._on_project_changed)
        context.jobs.busy_changed.connect(self.update_buttons)

        self.prompt_editor.set_history(state.memory.history)
        self.update_buttons()
        self.models.refresh_library()
        self.embeddings.refresh()
        self.gallery_control.load_history()

    def _add_embedding_to_prompt(self, name: str) -> None:
        self.prompt_editor.set_prompt(add_reference(self.prompt_editor.prompt.text, name), notify=True)

    def _add_embedding_to_negative(self, name: str) -> None:
        self.prompt_editor.negative.set_text(add_reference(self.prompt_editor.negative.text, name))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._sized:  # first show: the real width is known now
            self._sized = True
            width = max(self.width(), 1100)
            self.splitter.setSizes([round(width * 0.27), round(width * 0.36), width - round(width * 0.63)])

    def update_buttons(self, *_: object) -> None:
        mine = self.jobs.is_generating()
        other = self.context.jobs.is_busy and not mine
        no_model = self.model_picker.current() is None
        free = not mine and not other and not no_model
        if no_model:
            reason = (
                "No base model yet: put a model file (.safetensors or a diffusers folder) in a model folder "
                "(Edit › Settings › Model folders), then choose it above."
            )
        elif mine:
            reason = "Pictures are being made; press Cancel to stop."
        elif other:
            reason = "The graphics card is busy with another job; this is available when it ends."
        else:
            reason = ""
        self.generate_button.setEnabled(free)
        self.generate_button.setToolTip(reason or "Make pictures (Ctrl+Enter)")
        self.cancel_button.setEnabled(mine)
        self.model_picker.set_busy(mine or other, loading=mine and self.jobs.gpu_kind in ("generate", "grid"))
        self.grid_button.setEnabled(free)
        self.grid_button.setToolTip(reason or GRID_TIP)
        bake_ready = free and bool(self.mixer.enabled_rows())
        self.bake_button.setEnabled(bake_ready)
        self.bake_button.setToolTip(reason or (BAKE_TIP if bake_ready else "Tick a LoRA in the list first"))
        if no_model and self.state.status == "Ready.":
            self.state.status = "No base model yet, so nothing can be generated (hover Generate for what to do)."
        elif not no_model and self.state.status.startswith("No base model yet"):
            self.state.status = "Ready."
        if other and (job := self.context.jobs.current_gpu_job()) is not None:
            self.state.status = f"{BUSY_PREFIX}{job.name}. Generate is available when it ends."
        elif not other and self.state.status.startswith(BUSY_PREFIX):
            self.state.status = "Ready."  # that job has ended: don't keep saying it runs

    def _on_negative_state(self, applies: bool, reason: str) -> None:
        """FLUX.1 at CFG scale 1 has no use for a negative prompt: grey it out and say why."""
        for widget in (self.prompt_editor.negative, self.prompt_editor.negative_count):
            widget.setEnabled(applies)
        self.prompt_editor.negative.setToolTip(reason)

    def _on_selection_changed(self) -> None:
        self.save_timer.start()  # the weights are remembered
        self.models.report_unknown()
        self.update_buttons()

    def _on_project_changed(self, *_: object) -> None:
        self.memory_save()
        self.state.memory = GenerationMemory.load(self.context.project_path)
        self.prompt_editor.set_history(self.state.memory.history)
        # The previous project's LoRAs are not this one's: take their tags out of the prompt (the
        # mixer follows the prompt), keep the words.
        text = self.prompt_editor.prompt.text
        if strip_lora_tags(text) != text:
            self.prompt_editor.set_prompt(strip_lora_tags(text), notify=True)
            self.prompt_editor.flush()
        self.state.status = "Ready."
        self.models.refresh_library()
        self.embeddings.refresh()
        self.gallery.clear()
        self.gallery_control.load_history()

    def memory_save(self) -> None:
        self.state.memory.save()

    # -- what tests, the window and the screenshots drive ----------------------------------------
    def is_generating(self) -> bool:
        return self.jobs.is_generating()

    def build_request(self) -> GenerationRequest:
        return self.requests.build_request()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_image(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path: Path | None = dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            self.gallery_control.restore_from_file(path)
