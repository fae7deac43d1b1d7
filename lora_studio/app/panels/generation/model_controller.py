"""The Generation tab's models: finding models and LoRAs, choosing and loading a base model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Slot

from lora_studio.app.panels.generation.lora_selection import LoraChoice
from lora_studio.generation import jobs as jobs
from lora_studio.generation.model_library import Library, LoraItem, ModelItem

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
        view.mixer.refresh_requested.connect(self.refresh_library)
        view.context.settings_changed.connect(self._on_settings_changed)
        # New or removed files in the model and LoRA folders (a run just saved a LoRA) update the
        # lists by themselves, once the folder has been quiet for a moment.
        self.watcher = QFileSystemWatcher(self)
        self.rescan_timer = QTimer(self, singleShot=True, interval=1500)
        self.rescan_timer.timeout.connect(self._rescan_when_free)
        self.watcher.directoryChanged.connect(lambda _path: self.rescan_timer.start())

    def lora_dirs(self) -> list[Path]:
        dirs = list(self.view.context.settings.lora_folders())
        return dirs + [d for d in self.state.library.lora_folders() if d not in dirs]

    def lora_path(self, name: str) -> Path | None:
        row = self.view.mixer.row(name)
        return row.item.path if row is not None else None

    def unknown_loras(self, choices: tuple[LoraChoice, ...]) -> list[str]:
        """The names of ``choices`` that no file in the LoRA folders has."""
        return [c.name for c in choices if self.view.mixer.row(c.name) is None]

    def refresh_library(self) -> None:
        if "scan" in self.view.jobs.workers:
            return
        settings = self.view.context.settings
        fn = jobs.scan_job(settings.checkpoint_folders(), settings.lora_folders(), self.view.context.project_path)
        self.view.jobs.start("scan", fn, "Looking for models", self._on_library)

    def _rescan_when_free(self) -> None:
        if "scan" in self.view.jobs.workers:
            self.rescan_timer.start()  # one is running: look again after it
        else:
            self.refresh_library()

    def watched_folders(self) -> list[Path]:
        """The folders whose changes re-scan the library: the settings' model and LoRA folders,
        the folders the LoRAs were found in, and the open project with its output folder."""
        settings, project = self.view.context.settings, self.view.context.project_path
        folders = [*settings.checkpoint_folders(), *self.lora_dirs()]
        if project is not None:
            folders += [project, project / "output"]
        return [f for f in dict.fromkeys(folders) if f.is_dir()]

    def _watch(self) -> None:
        wanted = {str(f) for f in self.watched_folders()}
        current = set(self.watcher.directories())
        if current - wanted:
            self.watcher.removePaths(sorted(current - wanted))
        if wanted - current:
            self.watcher.addPaths(sorted(wanted - current))

    @Slot(Library)
    def _on_library(self, library: Library) -> None:
        view = self.view
        self.state.library = library
        self._watch()
        view.mixer.set_loras(library.loras, self.state.memory.weight)
        prefer = view.model_picker.current()
        project_models = [m for m in library.models if m.source == "project"]
        view.model_picker.set_models(
            library.models, prefer.path if prefer else (project_models[0].path if project_models else None)
        )
        self.report_unknown()
        view.update_buttons()

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
        self.view.settings_widget.set_family(family, native)
        self.view.update_buttons()

    def load_model(self) -> None:
        item = self.view.model_picker.current()
        if item is None:
            return
        fn = jobs.load_model_job(self.engine, str(item.path), self.lora_dirs())
        self.view.jobs.start("generate", fn, "Loading the model", self.on_model_loaded, gpu=True)

    @Slot(jobs.ModelReady)
    def on_model_loaded(self, loaded: jobs.ModelReady) -> None:
        self.state.loaded_native = loaded.native_size
        self.view.model_picker.set_loaded(loaded.path, loaded.load_seconds)
        self.view.settings_widget.set_family(loaded.family, loaded.native_size)
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
