"""The Generation tab's models: finding models and LoRAs, choosing and loading a base model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot

from lora_studio.app.panels.generation.library_watcher import LibraryWatcher
from lora_studio.app.panels.generation.lora_selection import LoraChoice
from lora_studio.core.families import ModelFamily
from lora_studio.generation import jobs as jobs
from lora_studio.generation.folder_size import folder_native_size
from lora_studio.generation.model_library import MODEL_SUFFIXES, Library, LoraItem, ModelItem

if TYPE_CHECKING:
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel


class ModelController(QObject):
    def __init__(self, view: GenerationPanel) -> None:
        super().__init__(view)
        self.view = view
        self.state = view.state
        self.engine = jobs.EngineHolder(view.context.settings.device)
        view.model_picker.model_changed.connect(self._on_model_changed)
        view.model_picker.load_requested.connect(self.load_model)
        view.mixer.info_requested.connect(self.show_lora_info)
        view.mixer.refresh_requested.connect(self.refresh_on_request)
        view.context.settings_changed.connect(self._on_settings_changed)
        self.watcher = LibraryWatcher(self)  # new or removed files re-list the library by themselves
        self.watcher.changed.connect(self.refresh_library)
        self._rescan = False  # the folders changed while a scan ran: scan again when it ends
        self._announce = False  # the Refresh button asked: say what was found
        # The project's training base model may live outside every model folder: list it too, and
        # look again when the Training tab points to another one.
        self._base_model: Path | None = None
        view.context.training.config_changed.connect(self._on_training_config)

    def lora_dirs(self) -> list[Path]:
        dirs = list(self.view.context.settings.lora_folders())
        return dirs + [d for d in self.state.library.lora_folders() if d not in dirs]

    def lora_path(self, name: str) -> Path | None:
        row = self.view.mixer.row(name)
        return row.item.path if row is not None else None

    def unknown_loras(self, choices: tuple[LoraChoice, ...]) -> list[str]:
        """The names of ``choices`` that no file in the LoRA folders has."""
        return [c.name for c in choices if self.view.mixer.row(c.name) is None]

    def watched_folders(self) -> list[Path]:
        """The model and LoRA folders, the open project and its training output folder."""
        context = self.view.context
        folders = [*context.settings.checkpoint_folders(), *context.settings.lora_folders()]
        if (root := context.project_path) is not None:
            folders.append(root)
            config = context.training.config
            output = Path(config.run.output_dir) if config is not None else Path("output")
            folders.append(output if output.is_absolute() else root / output)
        return folders

    def training_base_model(self) -> Path | None:
        """The base model the open project's training settings name, when that file or folder exists."""
        context = self.view.context
        if context.project_path is None or context.training.config is None:
            return None
        text = context.training.config.model.base_model.strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = context.project_path / path
        is_model = path.is_file() and path.suffix.lower() in MODEL_SUFFIXES
        return path if is_model or (path / "model_index.json").is_file() else None

    def _on_training_config(self, *_: object) -> None:
        if self.training_base_model() != self._base_model:
            self.refresh_library()

    def refresh_library(self) -> None:
        if "scan" in self.view.jobs.workers:
            self._rescan = True
            return
        self._rescan = False
        self.watcher.watch(self.watched_folders())
        settings = self.view.context.settings
        self._base_model = self.training_base_model()
        fn = jobs.scan_job(
            settings.checkpoint_folders(),
            settings.lora_folders(),
            self.view.context.project_path,
            [self._base_model] if self._base_model is not None else [],
        )
        self.view.jobs.start("scan", fn, "Looking for models", self._on_library)

    def refresh_on_request(self) -> None:
        """The Refresh button: re-list, then say what was found (the list may well be the same)."""
        self._announce = True
        self.state.status = "Looking for models and LoRAs…"
        self.refresh_library()

    @Slot(Library)
    def _on_library(self, library: Library) -> None:
        view = self.view
        self.state.library = library
        view.mixer.set_loras(library.loras, self.state.memory.weight)
        prefer = view.model_picker.current()
        project_models = [m for m in library.models if m.source == "project"]
        view.model_picker.set_models(
            library.models, prefer.path if prefer else (project_models[0].path if project_models else None)
        )
        if self._announce and not self._rescan:
            self._announce = False
            models, loras = len(library.models), len(library.loras)
            self.state.status = (
                f"Looked again: {models} model{'s' * (models != 1)}, {loras} LoRA{'s' * (loras != 1)} found."
            )
        self.report_unknown()
        view.update_buttons()
        if self._rescan:
            QTimer.singleShot(0, self.refresh_library)  # after this job has left the running list

    def report_unknown(self) -> None:
        unknown = self.unknown_loras(self.state.selection.choices)
        if unknown and self.state.library.loras:
            self.state.status = "Not in your LoRA folders: " + ", ".join(unknown) + "."

    def _on_model_changed(self, item: ModelItem | None) -> None:
        family = item.family if item else None
        self.view.mixer.set_model_family(family)
        native = None
        if item is not None and self.view.model_picker.is_current_loaded():
            native = self.state.loaded_native or None
        elif item is not None and item.path.is_dir():  # a diffusers folder's config says it
            native = folder_native_size(item.path)
        # Before loading, a FLUX file's name tells schnell from dev; loading tells for sure.
        schnell = item is not None and "schnell" in f"{item.name} {item.note}".lower()
        self.view.settings_widget.set_family(family, native, schnell=schnell)
        self.view.update_buttons()

    def load_model(self) -> None:
        item = self.view.model_picker.current()
        if item is None:
            return
        weights = self.view.settings_widget.options.base_weights_value()
        fn = jobs.load_model_job(self.engine, str(item.path), self.lora_dirs(), weights)
        self.view.jobs.start("generate", fn, "Loading the model", self.on_model_loaded, gpu=True)

    @Slot(jobs.ModelReady)
    def on_model_loaded(self, loaded: jobs.ModelReady) -> None:
        self.state.loaded_native = loaded.native_size
        self.view.model_picker.set_loaded(loaded.path, loaded.load_seconds)
        schnell = loaded.family == ModelFamily.FLUX and not loaded.distilled_guidance
        self.view.settings_widget.set_family(loaded.family, loaded.native_size, schnell=schnell)
        took = f" in {loaded.load_seconds:.1f} s" if loaded.load_seconds else ""
        self.state.status = f"{loaded.path.name} is loaded{took}."

    def show_lora_info(self, item: LoraItem) -> None:
        from lora_studio.app.panels.generation.lora_info_dialog import LoraInfoDialog

        dialog = LoraInfoDialog(item, self.view)
        dialog.insert_requested.connect(self.view.prompt_editor.insert_words)
        dialog.exec()

    def _on_settings_changed(self, *_: object) -> None:
        self.engine.device = self.view.context.settings.device
        self.refresh_library()
