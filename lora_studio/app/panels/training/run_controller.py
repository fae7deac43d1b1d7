"""The Training tab's run control: start, resume and queue runs, stop, pause and steer the running one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.training.run_queue import QueueEntry, RunStatus
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import Command
from lora_studio.training.config import TrainConfig, update
from lora_studio.training.run import RunRequest
from lora_studio.training.run_files import latest_state, lora_filename

if TYPE_CHECKING:
    from lora_studio.app.panels.training.training_panel import TrainingPanel

RESUME_TIP = "Continue the last stopped run of this output from its newest saved state."
START_TIP = "Check the settings and start training now."
START_BUSY_TIP = "A run is training now. Use “Add to queue” to line up these settings after it."


class RunController(QObject):
    def __init__(self, view: TrainingPanel) -> None:
        super().__init__(view)
        self.view = view
        self.queue = view.queue
        self.worker: Worker | None = None
        self.last_entry: QueueEntry | None = None
        view.start_button.clicked.connect(self.start)
        view.resume_button.clicked.connect(self.resume)
        view.queue_button.clicked.connect(lambda: self.add_to_queue())
        view.monitor.stop_requested.connect(self.stop)
        view.monitor.pause_toggled.connect(self.set_paused)
        view.monitor.sample_now_requested.connect(
            lambda: self._send(Command.SAMPLE_NOW, "Sample pictures after this step…")
        )
        view.monitor.save_now_requested.connect(lambda: self._send(Command.SAVE_NOW, "Saving after this step…"))
        self.queue.run_started.connect(self._on_run_started)
        self.queue.run_ended.connect(self._on_run_ended)
        self.queue.start_refused.connect(lambda info: show_error(info, view))
        self.queue.changed.connect(self.update_buttons)
        view.queue_widget.problem_requested.connect(lambda e: show_error(e.error, view))

    def _request(self, config: TrainConfig, *, resume: bool = False) -> RunRequest:
        name = config.run.output_name or "lora"
        return RunRequest(config=config, name=f"Resume {name}" if resume else name, resume=resume)

    @Slot()
    def start(self) -> bool:
        """Check everything; start a run with the form's settings when there is no error."""
        view = self.view
        issues = view.form_control.refresh_checks()
        errors = [i for i in issues if i.is_error]
        if errors:
            n = len(errors)
            view.show_notice(f"Fix the {'problem' if n == 1 else f'{n} problems'} listed below first, then start again.")
            return False
        config = view.config()
        view.context.training.save()
        self.queue.add(self._request(config))
        return self._start_queue()

    def resume_config(self, config: TrainConfig) -> TrainConfig:
        """The form's settings, under the name the last run really saved as (``zorb-2`` when the
        form says ``zorb`` but that name was taken by an earlier run's files)."""
        entry = self.last_entry
        if entry is not None and entry.output_name and latest_state(config.run.output_dir, entry.output_name):
            return update(config, **{"run.output_name": entry.output_name})
        return config

    @Slot()
    def resume(self) -> bool:
        config = self.resume_config(self.view.config())
        why_not = _why_not_resumable(config)
        if why_not:
            self.view.show_notice(why_not)
            return False
        self.queue.add(self._request(config, resume=True))
        return self._start_queue()

    def add_to_queue(self, config: TrainConfig | None = None, name: str = "") -> QueueEntry:
        """Queue a run (the form's settings unless ``config`` is given). Problems don't block queueing."""
        config = config or self.view.config()
        request = self._request(config)
        if name:
            request = RunRequest(config=config, name=name)
        entry = self.queue.add(request)
        self.view.tabs.setCurrentWidget(self.view.queue_widget)
        return entry

    def _start_queue(self) -> bool:
        started = self.queue.start()
        if not started and self.queue.is_running:
            self.view.show_notice("Added to the queue; it starts when the current run ends.")
            self.view.tabs.setCurrentWidget(self.view.queue_widget)
        return started or self.queue.is_running

    @Slot(QueueEntry, Worker)
    def _on_run_started(self, entry: QueueEntry, worker: Worker) -> None:
        view = self.view
        self.worker = worker
        view.monitor_control.epochs = entry.request.config.run.epochs
        view.plot.clear()
        view.gallery.clear()
        view.monitor.start_run(entry.name)
        view.monitor.append_log(f"Run “{entry.name}” started.")
        view.tabs.setCurrentWidget(view.plot)
        self.update_buttons()

    @Slot(QueueEntry)
    def _on_run_ended(self, entry: QueueEntry) -> None:
        view = self.view
        self.worker = None
        self.last_entry = entry
        text = {
            RunStatus.FINISHED: f"Finished “{entry.name}”. {entry.result}.",
            RunStatus.STOPPED: f"Stopped “{entry.name}”. Press Resume to continue it later.",
            RunStatus.FAILED: f"“{entry.name}” failed: {entry.result}",
        }.get(entry.status, entry.result)
        view.monitor.finish(text, done=entry.status == RunStatus.FINISHED)
        view.monitor.append_log(text)
        view.plot.redraw()
        self.update_buttons()
        if entry.status == RunStatus.FAILED and entry.error is not None:
            if self.queue.waiting():
                view.monitor.append_log("The next run in the queue starts anyway.")
            else:
                show_error(_with_run_state_note(entry.error), view)

    @Slot()
    def stop(self) -> None:
        if self.queue.is_running:
            self.view.monitor.set_status("Stopping after this step and saving a resume point…")
            self.view.monitor.stop_button.setEnabled(False)
            self.queue.stop_current()

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        if self.worker is None:
            return
        if paused:
            self.worker.control.pause()
            self.view.monitor.set_status(
                "Paused after the current step. The model stays loaded; press Resume to go on."
            )
        else:
            self.worker.control.resume()
            self.view.monitor.set_status("Training")

    def _send(self, command: Command, text: str) -> None:
        if self.worker is not None:
            self.worker.control.send(command)
            self.view.monitor.append_log(text)

    def update_buttons(self) -> None:
        view = self.view
        running = self.queue.is_running
        view.start_button.setEnabled(not running)  # during a run "Add to queue" lines up the next one
        view.start_button.setToolTip(START_BUSY_TIP if running else START_TIP)
        config = self.resume_config(view.context.training.current())
        why_not = _why_not_resumable(config)
        view.resume_button.setEnabled(not why_not and not running)
        view.resume_button.setToolTip(
            why_not or ("A run is training now; resume after it ends." if running else RESUME_TIP)
        )
        files = view.monitor_control.compare_files()
        idle = not self.queue.is_running and view.monitor_control.compare_worker is None
        advisor = getattr(view, "advisor", None)  # made after this controller's first update
        idle = idle and (advisor is None or advisor.worker is None)
        view.compare_button.setEnabled(bool(files) and idle)
        view.advise_button.setEnabled(bool(files) and idle)
        view.advise_button.setToolTip(
            view.advise_button.toolTip() if files else "Train at least one epoch first: there is no saved file to judge."
        )


def _why_not_resumable(config: TrainConfig) -> str:
    """Why Resume can't continue this output's run ("" when it can): no saved state, or the run finished."""
    name, folder = config.run.output_name, config.run.output_dir
    if latest_state(folder, name) is None:
        return "Nothing to resume yet: stopping a run saves a state you can continue from."
    if (Path(folder) / lora_filename(name)).exists():  # only a run that ran to its end writes the final file
        return f"“{name}” finished: there is nothing to resume. Start training makes a new run."
    return ""


def _with_run_state_note(info: ErrorInfo) -> ErrorInfo:
    """Training errors keep the run's state: say so, so nobody fears the work is lost."""
    note = "The settings, the curve and any saved files are kept; a resume point was saved if training had started."
    hint = f"{info.hint} {note}".strip() if info.expected else info.hint
    return ErrorInfo(info.message, hint, info.details, info.title, info.expected)
