"""The Generation tab's requests: what the controls describe, and the jobs that make pictures from
it (generate, compare in a grid, bake into a model)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QImage

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.generation.gallery_widget import GalleryEntry
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.core.errors import GenerationError, LoraStudioError
from lora_studio.core.events import Event, ImageReady, PreviewReady, Progress, StatusChanged
from lora_studio.generation import jobs as jobs
from lora_studio.generation.grid import GridAxis, GridResult
from lora_studio.generation.request import GenerationRequest, LoraSpec, extract_lora_tags

if TYPE_CHECKING:
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel
    from lora_studio.app.panels.generation.grid_dialog import GridDialog


class RequestController(QObject):
    def __init__(self, view: GenerationPanel) -> None:
        super().__init__(view)
        self.view = view
        self.state = view.state
        self.models = view.models
        self.grid_dialog: GridDialog | None = None
        self._seconds_per_image: float | None = None
        view.generate_button.clicked.connect(self.generate)
        view.cancel_button.clicked.connect(self.cancel)
        view.grid_button.clicked.connect(self.open_grid)
        view.bake_button.clicked.connect(self.open_bake)
        view.jobs.gpu_started.connect(self._on_gpu_started)
        view.jobs.job_event.connect(self._on_event)
        view.jobs.gpu_failed.connect(self._on_failed)
        view.jobs.gpu_cancelled.connect(self._on_cancelled)
        view.jobs.ended.connect(self._on_ended)

    def output_dir(self) -> Path:
        context = self.view.context
        return context.settings.output_folder() / (context.project_name or "images") / time.strftime("%Y-%m-%d")

    def lora_specs(self) -> tuple[LoraSpec, ...]:
        """The LoRAs in use with their file, overall and per-part strengths."""
        return self.state.selection.specs(self.models.lora_path)

    def build_request(self) -> GenerationRequest:
        """The request the controls describe; raises GenerationError with plain words."""
        view = self.view
        view.prompt_editor.flush()  # the selection follows the prompt's last edit
        item = view.model_picker.current()
        if item is None:
            raise GenerationError(
                "Choose a base model first.", hint="Models come from the folders set in Settings."
            )
        prompt = extract_lora_tags(view.prompt_editor.prompt.text)[0]
        unknown = self.models.unknown_loras(self.state.selection.choices)
        if unknown:
            raise GenerationError(
                f"The prompt names a LoRA that isn't in your LoRA folders: {', '.join(unknown)}.",
                hint="Fix the name in the prompt, or put the file in a LoRA folder and press Refresh.",
            )
        fields = view.settings_widget.request_fields()
        steps = int(fields["steps"])
        request = GenerationRequest(
            model=str(item.path), prompt=prompt, negative=view.prompt_editor.negative.text.strip(),
            loras=self.lora_specs(), output_dir=str(self.output_dir()),
            preview_every=max(1, steps // 8), **fields,
        )  # fmt: skip
        problems = request.validate()
        if problems:
            raise GenerationError(problems[0], hint=" ".join(problems[1:]))
        return request

    # -- generate --------------------------------------------------------------------------------
    def generate(self) -> None:
        view = self.view
        try:
            request = self.build_request()
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Can't generate yet"), view)
            return
        self.state.memory.add_prompt(view.prompt_editor.prompt.text, request.negative)
        view.prompt_editor.set_history(self.state.memory.history)
        view.save_timer.start()
        model = Path(request.model)
        if not self.models.engine.is_loaded(model, request.base_weights):
            self.state.status = f"Loading {model.name} first — this takes a moment the first time…"
        else:
            self.state.status = "Generating…"
        fn = jobs.generate_job(self.models.engine, request, self.models.lora_dirs())
        view.jobs.start("generate", fn, "Generating pictures", self._on_generated, gpu=True)

    @Slot(jobs.GenerateOutcome)
    def _on_generated(self, outcome: jobs.GenerateOutcome) -> None:
        self.models.on_model_loaded(outcome.model)
        count = len(outcome.result.paths)
        if count:
            self._seconds_per_image = max(0.01, (outcome.seconds - outcome.model.load_seconds) / count)
        warnings = " ".join(outcome.result.warnings)
        plural = "s" if count != 1 else ""
        self.state.status = f"Done: {count} picture{plural} in {outcome.seconds:.1f} s. {warnings}".strip()
        self.view.gallery.show_current()

    def cancel(self) -> None:
        self.view.jobs.cancel()
        self.state.status = "Stopping after this step…"

    # -- progress --------------------------------------------------------------------------------
    @Slot(str)
    def _on_gpu_started(self, _kind: str) -> None:
        self.view.progress.setRange(0, 0)
        self.view.update_buttons()

    @Slot(Event)
    def _on_event(self, event: Event) -> None:
        view, kind = self.view, self.view.jobs.gpu_kind
        if isinstance(event, Progress):
            if kind == "grid" and event.text.startswith("Grid cell"):
                if self.grid_dialog is not None:
                    self.grid_dialog.show_progress(event.done, event.total)
                return
            view.progress.setRange(0, max(1, event.total))
            view.progress.setValue(event.done)
            picker = view.model_picker
            item = picker.current()
            if kind == "generate" and item is not None and not picker.is_current_loaded():
                picker.set_loaded(item.path)  # steps run: the model is in memory, no longer "Loading…"
            if event.text:
                self.state.status = event.text
        elif isinstance(event, StatusChanged):
            self.state.status = event.text
        elif isinstance(event, PreviewReady) and kind == "generate":
            caption = f"Preview at step {event.step} of {event.total}…"
            view.gallery.show_preview(QImage.fromData(event.png), caption)
        elif isinstance(event, ImageReady) and kind == "generate":
            view.gallery.add_entry(GalleryEntry(Path(event.path), event.seed, event.infotext))
            view.settings_widget.set_last_seed(event.seed)

    @Slot(ErrorInfo)
    def _on_failed(self, info: ErrorInfo) -> None:
        self.state.status = info.message
        show_error(info, self.view)

    @Slot()
    def _on_cancelled(self) -> None:
        self.state.status = "Stopped."

    @Slot()
    def _on_ended(self) -> None:
        if not self.view.jobs.is_generating():
            self.view.progress.setRange(0, 1)
            self.view.progress.setValue(0)
            if self.grid_dialog is not None:
                self.grid_dialog.set_running(False)
        self.view.update_buttons()

    # -- grid and bake ---------------------------------------------------------------------------
    def open_grid(self) -> None:
        from lora_studio.app.panels.generation.grid_dialog import GridDialog

        enabled = [row.item for row in self.view.mixer.enabled_rows()]
        dialog = GridDialog(list(self.state.library.loras), enabled, self.view)
        dialog.seconds_per_image = self._seconds_per_image
        dialog.run_requested.connect(self.run_grid)
        dialog.cancel_requested.connect(self.cancel)
        self.grid_dialog = dialog
        dialog.show()

    def run_grid(self, axes: list[GridAxis]) -> None:
        try:
            request = self.build_request()
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Can't make the grid yet"), self.view)
            return
        out = self.output_dir() / "grids" / time.strftime("%H%M%S")
        fn = jobs.grid_job(self.models.engine, request, axes, self.models.lora_dirs(), out)
        if self.view.jobs.start("grid", fn, "Making a grid", self._on_grid_done, gpu=True):
            if self.grid_dialog is not None:
                self.grid_dialog.set_running(True)

    @Slot(GridResult)
    def _on_grid_done(self, result: GridResult) -> None:
        self.state.status = f"Grid done: {result.cells} pictures."
        if self.grid_dialog is not None and result.grid_paths:
            self.grid_dialog.show_result(Path(result.grid_paths[0]))

    def open_bake(self) -> None:
        from lora_studio.app.panels.generation.bake_dialog import BakeDialog

        item = self.view.model_picker.current()
        specs = self.lora_specs()
        if item is None or not specs:
            return
        dialog = BakeDialog(item.path, specs, self.view)
        if dialog.exec():
            self.bake(item.path, specs, dialog.out_path(), dialog.half.isChecked())

    def bake(self, model: Path, specs: tuple[LoraSpec, ...], out_path: Path, half: bool = True) -> None:
        fn = jobs.bake_job(str(model), specs, out_path, half)
        self.view.jobs.start("bake", fn, "Baking LoRAs into the model", self._on_baked, gpu=True)

    @Slot(Path)
    def _on_baked(self, path: Path) -> None:
        self.state.status = f"Saved the new model as {path}."
        self.models.refresh_library()
