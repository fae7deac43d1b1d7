"""The Training tab's monitor: the running run's events on the plot, the samples and the log, and
comparing the saved epochs afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.training.run_queue import QueueEntry
from lora_studio.app.panels.training.side_job import start_side_job
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import (
    CheckpointSaved,
    EpochFinished,
    Event,
    HistoryLoaded,
    LogLine,
    OutputRenamed,
    Progress,
    SampleReady,
    StatusChanged,
    StepFinished,
    ValidationLoss,
)
from lora_studio.generation.grid import GridResult
from lora_studio.training.compare import compare_request, run_compare
from lora_studio.training.run_files import intermediate_loras

if TYPE_CHECKING:
    from lora_studio.app.panels.training.training_panel import TrainingPanel


class MonitorController(QObject):
    def __init__(self, view: TrainingPanel) -> None:
        super().__init__(view)
        self.view = view
        self.epochs = 0  # of the running run
        self.compare_worker: Worker | None = None
        view.queue.run_event.connect(self.on_run_event)
        view.compare_button.clicked.connect(self.compare_epochs)
        view.open_button.clicked.connect(self.open_output)
        view.context.project_changed.connect(self.on_project_changed)

    @Slot(object)
    def on_project_changed(self, _project: object = None) -> None:
        """Another project: the last run's plot, samples, log and numbers belong to the old one.
        A run still going on stays shown (it is true: that run is training)."""
        view = self.view
        if view.runs.worker is not None:
            return
        view.runs.last_entry = None
        view.plot.clear()
        view.gallery.clear()
        view.monitor.reset()
        view.runs.update_buttons()

    @Slot(QueueEntry, Event)
    def on_run_event(self, entry: QueueEntry, event: Event) -> None:
        plot, monitor = self.view.plot, self.view.monitor
        if isinstance(event, StepFinished):
            plot.add_step(event.step, event.loss, event.lr)
            monitor.show_step(event, self.epochs)
        elif isinstance(event, EpochFinished):
            plot.add_epoch(event.step)
            monitor.append_log(
                f"Epoch {event.epoch} finished at step {event.step}; average loss {event.avg_loss:.4f}."
            )
        elif isinstance(event, ValidationLoss):
            plot.add_validation(event.step, event.loss)
            monitor.append_log(f"Validation loss after epoch {event.epoch}: {event.loss:.4f}.")
        elif isinstance(event, SampleReady):
            self.view.gallery.add_sample(event.path, event.step, event.epoch, event.prompt, event.prompt_index)
        elif isinstance(event, CheckpointSaved):
            plot.add_save(event.step, event.kind)
            what = "LoRA file" if event.kind == "lora" else "resume point"
            monitor.append_log(f"Saved {what} {Path(event.path).name} (step {event.step}).")
            if event.kind == "lora":
                entry.lora_files.append(event.path)
        elif isinstance(event, StatusChanged):
            worker = self.view.runs.worker
            if not (worker and worker.control.paused):
                monitor.set_status(event.text)
            monitor.append_log(event.text)
        elif isinstance(event, Progress):
            monitor.set_status(f"{event.text} {event.done}/{event.total}".strip())
            if event.done == event.total:
                monitor.append_log(f"{event.text}: {event.total} done.")
        elif isinstance(event, LogLine):
            monitor.append_log(f"[{event.level}] {event.text}")
        elif isinstance(event, OutputRenamed):
            entry.output_name = event.name  # Resume and Compare follow this run's files
        elif isinstance(event, HistoryLoaded):  # a resumed run is one run: show what it did before
            plot.add_history(event.losses, event.lrs)
            if event.epoch_steps > 0:  # the dotted epoch lines of the epochs before the stop
                for step in range(event.epoch_steps, len(event.losses) + 1, event.epoch_steps):
                    plot.add_epoch(step)
            for step, value in event.validation:
                plot.add_validation(step, value)
            for saved in event.saves:
                plot.add_save(saved.step, saved.kind)
                entry.lora_files.append(saved.path)
            for sample in event.samples:
                self.view.gallery.add_sample(sample.path, sample.step, sample.epoch, sample.prompt, sample.prompt_index)
            if event.saves or event.samples:
                monitor.append_log(
                    f"Continuing the run: {len(event.losses)} earlier steps, {len(event.saves)} saved LoRA "
                    f"file(s) and {len(event.samples)} sample picture(s) from before the stop."
                )

    # -- after training ------------------------------------------------------------------------
    def compare_files(self) -> list[str]:
        entry = self.view.runs.last_entry
        if entry is None:
            return []
        # every epoch file of the run in its output folder, also those saved before a stop/resume
        run = entry.request.config.run
        on_disk = [str(p) for p in intermediate_loras(Path(run.output_dir), entry.output_name or run.output_name)]
        files = on_disk + list(entry.lora_files) + ([entry.final_lora] if entry.final_lora else [])
        return [f for f in dict.fromkeys(files) if Path(f).is_file()]

    @Slot()
    def compare_epochs(self) -> None:
        view, entry = self.view, self.view.runs.last_entry
        files = self.compare_files()
        view.compare_requested.emit(files)
        if entry is None or not files:
            return
        try:
            request = compare_request(entry.request.config, files)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Nothing to compare"), view)
            return
        worker = start_side_job(
            view,
            view.context,
            view.monitor.set_status,
            lambda r, c: run_compare(request, r, c),
            "Epoch comparison",
            on_done=self._on_compare_done,
            on_failed=self._on_compare_failed,
            busy_title="Comparison can't start yet",
        )
        if worker is None:
            return
        self.compare_worker = worker
        view.monitor.set_status(f"Comparing {len(files)} saved files…")
        view.runs.update_buttons()

    @Slot(GridResult)
    def _on_compare_done(self, result: GridResult) -> None:
        self.compare_worker = None
        self.view.runs.update_buttons()
        paths = list(result.grid_paths)
        self.view.monitor.set_status(
            f"Comparison ready: {len(paths)} grid(s) in {Path(paths[0]).parent}" if paths else "Comparison finished."
        )
        if paths:
            CompareGridDialog(paths, self.view).show()

    @Slot()
    def _on_compare_failed(self, info: ErrorInfo | None = None) -> None:
        self.compare_worker = None
        self.view.runs.update_buttons()
        if info is not None:
            show_error(info, self.view)

    @Slot()
    def open_output(self) -> None:
        folder = Path(self.view.config().run.output_dir)
        if folder.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        else:
            self.view.show_notice(f"The output folder {folder} does not exist yet; it is made when training starts.")


class CompareGridDialog(QDialog):
    """The epoch comparison's grids, one tab per sample prompt."""

    def __init__(self, paths: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare epochs")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        tabs = QTabWidget()
        for i, path in enumerate(paths, start=1):
            label = QLabel()
            label.setPixmap(QPixmap(path))
            area = QScrollArea()
            area.setWidget(label)
            tabs.addTab(area, f"Prompt {i}" if len(paths) > 1 else Path(path).name)
        note = QLabel("Columns: saved files (epochs) · rows: LoRA weight. Pick the earliest one that looks right.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addWidget(note)
        self.resize(1000, 760)
