"""The observable application state that panels bind to (one instance, passed to every panel).

Panels read the current values and connect to the ``*_changed`` signals; they never reach into the
main window. User intent that the window handles (new/open project) goes through ``*_requested``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lora_studio.app.caption_history import CaptionHistory
from lora_studio.app.training_settings import TrainingSettings
from lora_studio.app.workers.job_runner import JobRunner
from lora_studio.core.errors import DatasetError
from lora_studio.core.settings import AppSettings, load_settings, save_settings

if TYPE_CHECKING:
    from lora_studio.dataset.project import Project

log = logging.getLogger(__name__)



@dataclasses.dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the app will train on. ``summary`` is short (status bar), ``details`` multi-line."""

    summary: str
    details: str = ""


class AppContext(QObject):
    project_changed = Signal(object)  # the opened Project, or None
    settings_changed = Signal(AppSettings)
    device_changed = Signal(DeviceInfo)
    # The open project's concepts changed (added, renamed, removed, repeats, trigger, picture counts)
    # by one panel; the others refresh what they show. Emit through notify_project_modified().
    project_modified = Signal()

    new_project_requested = Signal()
    open_project_requested = Signal()
    demo_project_requested = Signal()

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        settings_path: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings_path = settings_path
        self._settings = settings if settings is not None else load_settings(settings_path)
        self._project: Project | None = None
        self._project_path: Path | None = None
        self._device: DeviceInfo | None = None
        # The open project's training settings: one copy for every tab (the Training form binds to
        # it, the Dataset tab's step maths read and change it, saving writes training.toml).
        self.training = TrainingSettings(self)
        self.jobs = JobRunner(self)
        # One undo history for every caption edit in the app (the Edit menu's Undo/Redo).
        self.caption_history = CaptionHistory(self)

    # -- settings ------------------------------------------------------------------------------
    @property
    def settings(self) -> AppSettings:
        return self._settings

    def update_settings(self, settings: AppSettings, *, save: bool = True) -> None:
        """Replace the settings, write them to disk (atomically) and notify listeners."""
        if settings == self._settings:
            return
        self._settings = settings
        if save:
            save_settings(settings, self._settings_path)
        self.settings_changed.emit(settings)

    def forget_recent_projects(self) -> None:
        self.update_settings(dataclasses.replace(self._settings, recent_projects=()))

    # -- project -------------------------------------------------------------------------------
    @property
    def project(self) -> Project | None:
        """The open project (from ``lora_studio.dataset.project``), or None."""
        return self._project

    @property
    def project_path(self) -> Path | None:
        return self._project_path

    @property
    def project_name(self) -> str:
        if self._project_path is None:
            return ""
        return (self._project.name if self._project is not None else "") or self._project_path.name

    def open_project(self, path: str | Path) -> Project:
        """Open a project folder. Raises a LoraStudioError with plain words when it can't."""
        path = Path(path)
        from lora_studio.dataset import project as projects  # torch-free, small

        try:
            project = projects.open_project(path)
        except OSError as exc:
            raise DatasetError(
                f"The project folder {path} could not be opened: {exc.strerror or exc}.",
                hint="Check that the folder exists and that you may read it.",
            ) from exc
        self._set_project(project, path)
        return project

    def create_project(self, path: str | Path, name: str) -> Project:
        path = Path(path)
        from lora_studio.dataset import project as projects

        try:
            project = projects.create_project(path, name)
        except OSError as exc:
            raise DatasetError(
                f"The project could not be created in {path}: {exc.strerror or exc}.",
                hint="Pick a folder you may write to, for example one in your Documents.",
            ) from exc
        self._set_project(project, path)
        return project

    def notify_project_modified(self) -> None:
        """Call after changing the open project's concepts (e.g. repeats) so other panels refresh."""
        if self._project is not None:
            self.project_modified.emit()

    def _set_project(self, project: Project, path: Path) -> None:
        self._project = project
        self._project_path = Path(project.root or path)
        self.training.open(self._project_path)  # the Training tab loads the project's own
        self.update_settings(self._settings.with_recent(self._project_path))
        log.info("Opened project %s", self._project_path)
        self.project_changed.emit(project)

    # -- device --------------------------------------------------------------------------------
    @property
    def device(self) -> DeviceInfo | None:
        """None until the device check has run."""
        return self._device

    def set_device(self, device: DeviceInfo) -> None:
        self._device = device
        self.device_changed.emit(device)
