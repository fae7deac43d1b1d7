"""File ▸ Open recent: rebuilt whenever the settings change."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMenu, QWidget

from lora_studio.app.state import AppContext


class RecentProjectsMenu(QMenu):
    project_chosen = Signal(str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Open &recent", parent)
        self.context = context
        context.settings_changed.connect(self.rebuild)
        self.rebuild()

    def rebuild(self, *_: object) -> None:
        self.clear()
        recent = self.context.settings.recent_projects
        for number, project in enumerate(recent, start=1):
            label = f"&{number}  {Path(project).name}" if number < 10 else Path(project).name
            action = self.addAction(label)
            action.setToolTip(project)
            action.setStatusTip(project)
            action.setData(project)
            action.triggered.connect(lambda _checked=False, p=project: self.project_chosen.emit(p))
        if not recent:
            self.addAction("No recent projects").setEnabled(False)
        self.addSeparator()
        clear = self.addAction("Clear this list")
        clear.setEnabled(bool(recent))
        clear.triggered.connect(self.context.forget_recent_projects)

    def project_paths(self) -> list[str]:
        return [a.data() for a in self.actions() if isinstance(a.data(), str)]
