"""File-menu actions on projects: new, open, open recent, open the demo."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QWidget

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.dialogs.new_project_dialog import NewProjectDialog, default_projects_folder
from lora_studio.app.state import AppContext
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import RunControl
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, Reporter, StatusChanged

log = logging.getLogger(__name__)

def ensure_demo_project_job(reporter: Reporter, control: RunControl) -> Path:
    """Worker function: make (first time) or find the demo project (builds a tiny model: torch)."""
    from lora_studio import demo

    reporter(StatusChanged("Preparing the demo project…"))
    control.raise_if_cancelled()
    return Path(demo.ensure_demo_project(reporter))


class ProjectActions(QObject):
    """Runs the project commands for the main window; shows plain error dialogs when they fail."""

    def __init__(self, context: AppContext, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.context = context
        self.window = parent_widget
        context.new_project_requested.connect(self.new_project)
        context.open_project_requested.connect(self.open_project)
        context.demo_project_requested.connect(self.open_demo)
        self._demo_worker: Worker | None = None

    @Slot()
    def new_project(self) -> None:
        dialog = NewProjectDialog(self.window)
        if dialog.exec() != NewProjectDialog.DialogCode.Accepted:
            return
        path = dialog.project_path()
        if path.exists() and any(path.iterdir()):
            self._fail(
                LoraStudioError(
                    f"The folder {path} already exists and is not empty.",
                    hint="Choose another name, or open that folder with File ▸ Open project.",
                ),
                "Couldn't create the project",
            )
            return
        try:
            self.context.create_project(path, dialog.project_name())
        except LoraStudioError as exc:
            self._fail(exc, "Couldn't create the project")

    @Slot()
    def open_project(self) -> None:
        start = self.context.project_path or default_projects_folder()
        folder = QFileDialog.getExistingDirectory(self.window, "Open a project folder", str(start))
        if folder:
            self.open_path(folder)

    @Slot(str)
    def open_path(self, path: str | Path) -> bool:
        path = Path(path)
        if not path.is_dir():
            self._fail(
                LoraStudioError(
                    f"The project folder {path} is not there any more.",
                    hint="It may have been moved, renamed or deleted. Open it from its new place.",
                ),
                "Couldn't open the project",
            )
            return False
        try:
            self.context.open_project(path)
        except LoraStudioError as exc:
            self._fail(exc, "Couldn't open the project")
            return False
        return True

    @Slot()
    def open_demo(self) -> None:
        if self._demo_worker is not None:
            return
        worker = Worker(ensure_demo_project_job, name="Preparing the demo", gpu=False)
        worker.event.connect(self._on_demo_event)
        worker.finished.connect(self._on_demo_ready)
        worker.failed.connect(self._on_demo_failed)
        worker.ended.connect(self._on_demo_ended)
        self._demo_worker = worker
        self.context.jobs.start(worker)

    @Slot(Event)
    def _on_demo_event(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            status_bar = getattr(self.window, "statusBar", None)
            if callable(status_bar):
                status_bar().showMessage(event.text, 5000)

    @Slot(Path)
    def _on_demo_ready(self, path: Path) -> None:
        self.open_path(path)

    @Slot(ErrorInfo)
    def _on_demo_failed(self, info: ErrorInfo) -> None:
        show_error(info, self.window)

    @Slot()
    def _on_demo_ended(self) -> None:
        self._demo_worker = None

    def _fail(self, exc: LoraStudioError, title: str) -> None:
        log.warning("%s: %s", title, exc)
        show_error(ErrorInfo.from_exception(exc, title=title), self.window)
