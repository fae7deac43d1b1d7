"""The open project's training settings: the ONE copy the Training form, the Dataset tab's step maths
and the project's ``training.toml`` share.

The Training tab's form binds to :attr:`TrainingSettings.config` (``observable.bind``); the Dataset
tab's epochs and batch size read and change it; :meth:`save` writes it into the project. Nothing
else keeps a copy.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from lora_studio.app.observable import ObservableState, Prop
from lora_studio.training.config import TrainConfig
from lora_studio.training.config_files import (
    PROJECT_CONFIG,
    project_settings_or_default,
    save_toml_config,
)

log = logging.getLogger(__name__)


class TrainingSettings(ObservableState):
    config_changed = Signal(object)  # TrainConfig, or None while no tab has set the project's
    config = Prop[TrainConfig | None](None)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project_root: Path | None = None

    def open(self, root: Path | None) -> None:
        """A project was opened (or closed): its settings are set (or read) next."""
        self.project_root = root
        self.config = None

    def current(self) -> TrainConfig:
        """The settings; the project's saved ones (or the default preset) before any tab set them."""
        if self.config is None:
            self.config = project_settings_or_default(self.project_root)
        return self.config

    def edit(self, config: TrainConfig) -> None:
        """A person changed the settings: take them and keep them in the project."""
        self.config = config
        self.save()

    def save(self) -> None:
        """Write the settings into the open project's ``training.toml`` (atomically)."""
        if self.project_root is None or self.config is None:
            return
        try:
            save_toml_config(self.config, self.project_root / PROJECT_CONFIG)
        except OSError as exc:
            log.warning("Could not save the training settings in the project: %s", exc)
