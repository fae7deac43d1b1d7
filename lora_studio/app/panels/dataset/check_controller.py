"""The Dataset tab's check: find problems on a worker (over a snapshot of the project), show them,
apply the fixes the user picks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMessageBox

from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, IssuesFound, Progress
from lora_studio.dataset import edits
from lora_studio.dataset import project as proj
from lora_studio.dataset.images import load_rgb_and_alpha
from lora_studio.dataset.jobs import check_job
from lora_studio.dataset.validate import Fix, Issue

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel

CHECK_JOB = "Checking the dataset"


class CheckController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.issues: list[Issue] = []
        view.check.check_requested.connect(self.run_check)
        view.check.cancel_requested.connect(view.jobs.cancel)
        view.check.fix_requested.connect(self.apply_fix)
        view.check.issue_activated.connect(self.show_issue)
        view.jobs.job_event.connect(self._on_job_event)
        view.jobs.ended.connect(self._on_job_ended)

    def clear(self) -> None:
        self.issues = []
        self.view.model.set_issues([])
        self.view.check.reset()

    def run_check(self) -> bool:
        view = self.view
        if view.project is None:
            return False
        view.caption_editor.commit()
        view.mask_painter.flush()
        self.issues = []
        job = check_job(view.project.snapshot(), view.crop_editor.train_resolution())
        started = view.jobs.start(job, CHECK_JOB, self.show_issues)
        if started:
            view.check.set_running(True)
        return started

    @Slot(Event)
    def _on_job_event(self, event: Event) -> None:
        job = self.view.jobs.job
        if isinstance(event, Progress) and job is not None and job.name == CHECK_JOB:
            self.view.check.set_progress(event.done, event.total)
        elif isinstance(event, IssuesFound):
            self.issues.extend(event.issues)

    def _on_job_ended(self) -> None:
        if self.view.check.running:
            self.view.check.set_running(False)

    @Slot(list)
    def show_issues(self, issues: list[Issue]) -> None:
        view = self.view
        self.issues = list(issues)
        view.model.set_issues(self.issues)
        names: dict[Path, str] = {}
        for issue in self.issues:
            row = view.model.resolve(issue.path)
            if row is not None and issue.path is not None:
                names[issue.path] = f"{row.name} ({row.concept})"
        view.check.set_issues(self.issues, names, pictures=view.model.rowCount())
        view.grid.refilter()

    @Slot(Issue)
    def apply_fix(self, issue: Issue) -> None:
        view = self.view
        row = view.model.resolve(issue.path)
        try:
            if issue.fix == Fix.CONVERT_CAPTION_UTF8 and issue.path is not None:
                view.history.push(edits.convert_to_utf8_edit([issue.path]))
            elif issue.fix == Fix.RESET_CROP and row is not None:
                view.crops.set_crop(row, None)
            elif issue.fix == Fix.ALPHA_TO_MASK and row is not None and view.project is not None:
                _, alpha = load_rgb_and_alpha(row.path)
                view.masks.set_mask(row, alpha)
            elif issue.fix == Fix.REMOVE_ITEM and row is not None and view.project is not None:
                answer = QMessageBox.question(
                    view,
                    "Remove picture?",
                    f"Take {row.name} out of the dataset? It moves to the project's .trash folder.",
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
                proj.remove_items(view.project, row.concept, [row.key])
                view.rescan()
            elif issue.fix in (Fix.WRITE_CAPTION, Fix.SHORTEN_CAPTION) and row is not None:
                self.show_issue(issue)
                view.editors.setCurrentWidget(view.caption_editor)
                view.caption_editor.text.setFocus()
                return
            elif issue.fix == Fix.SET_REPEATS:
                view.concepts.select(issue.concept or None)
                view.concepts.repeats.setFocus()
                return
            elif issue.fix == Fix.ADD_IMAGES:
                view.imports.add_pictures_dialog()
                return
            else:
                return
        except LoraStudioError as exc:
            view.jobs.show_exception(exc)
            return
        self.show_issues([i for i in self.issues if i != issue])
        view.jobs.set_status("Fixed.")

    @Slot(Issue)
    def show_issue(self, issue: Issue) -> None:
        view = self.view
        row = view.model.resolve(issue.path)
        if row is None:
            return
        if not view.grid.select_path(row.path):
            view.concepts.select(None)
            view.grid.set_tag_filter("")
            view.grid.select_path(row.path)
