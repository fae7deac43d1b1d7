"""The Training tab: settings with guidance, checks before start, live plots, samples, queue, resume.

Left: preset, settings form (Basic/Advanced), step maths, problems and memory estimate, start
buttons. Right: the running run (status, progress, controls) and tabs with the loss plot, the
sample pictures, the queue and the run's log. Runs go through :class:`RunQueue`, which starts
workers on the app's JobRunner; this module never imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.training import step_plan
from lora_studio.app.panels.training.compare_job import compare_request, run_compare
from lora_studio.app.panels.training.config_files import (
    PROJECT_CONFIG,
    LoadedConfig,
    default_settings,
    import_kohya,
    load_toml_config,
    project_settings,
    save_toml_config,
)
from lora_studio.app.panels.training.loss_plot_widget import LossPlotWidget
from lora_studio.app.panels.training.preflight_widget import PreflightWidget
from lora_studio.app.panels.training.preset_bar import PresetBar
from lora_studio.app.panels.training.queue_widget import QueueWidget
from lora_studio.app.panels.training.run_monitor_widget import RunMonitorWidget
from lora_studio.app.panels.training.run_queue import QueueEntry, RunQueue, RunStatus
from lora_studio.app.panels.training.sample_gallery_widget import SampleGalleryWidget
from lora_studio.app.panels.training.settings_form import SettingsForm
from lora_studio.app.panels.training.step_counter import StepCounter
from lora_studio.app.panels.training.training_job import HistoryLoaded, RunRequest, find_latest_state
from lora_studio.app.panels.training.vram_estimate import estimate_vram, vram_from_device, vram_tier
from lora_studio.app.state import AppContext
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobBusyError
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import Command
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import (
    CheckpointSaved,
    EpochFinished,
    Event,
    LogLine,
    Progress,
    SampleReady,
    StatusChanged,
    StepFinished,
    ValidationLoss,
)
from lora_studio.diffusion.families import ModelFamily
from lora_studio.training.config import TrainConfig, update
from lora_studio.training.presets import Purpose, preset

log = logging.getLogger(__name__)

OUTPUT_DIR = "output"


class TrainingPanel(QWidget):
    title = "Training"
    compare_requested = Signal(list)  # saved LoRA files of the last run, for the Generation panel

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.queue = RunQueue(context.jobs, parent=self)
        self.worker: Worker | None = None
        self.last_entry: QueueEntry | None = None
        self._epochs = 0
        self._family: ModelFamily | None = None
        self._compare_worker: Worker | None = None
        self._fit_worker: Worker | None = None
        self._calibration = 1.0  # measured / formula, from the last memory fit

        self.form = SettingsForm()
        self.presets = PresetBar()
        self._step_counter = StepCounter(self)
        self._step_counter.counted.connect(
            lambda count, _config: self.presets.steps_label.setText(step_plan.summary_line(count))
        )
        self.preflight = PreflightWidget()
        self.monitor = RunMonitorWidget()
        self.plot = LossPlotWidget()
        self.gallery = SampleGalleryWidget()
        self.queue_widget = QueueWidget(self.queue)
        self._build()

        self._check_timer = QTimer(self, singleShot=True, interval=300)
        self._check_timer.timeout.connect(self.refresh_checks)
        self.form.config_changed.connect(self._on_settings_edited)
        self.presets.apply_requested.connect(self.apply_preset)
        self.presets.automatic_steps_requested.connect(self.automatic_steps)
        self.preflight.field_requested.connect(self.focus_field)
        self.preflight.fit_button.clicked.connect(self.measure_fit)
        self.monitor.stop_requested.connect(self.stop)
        self.monitor.pause_toggled.connect(self.set_paused)
        self.monitor.sample_now_requested.connect(lambda: self._send(Command.SAMPLE_NOW, "Sample pictures after this step…"))
        self.monitor.save_now_requested.connect(lambda: self._send(Command.SAVE_NOW, "Saving after this step…"))
        self.queue.run_started.connect(self._on_run_started)
        self.queue.run_event.connect(self._on_run_event)
        self.queue.run_ended.connect(self._on_run_ended)
        self.queue.start_refused.connect(lambda info: show_error(info, self))
        self.queue.changed.connect(self._update_buttons)
        self.queue_widget.problem_requested.connect(lambda e: show_error(e.error, self))
        context.project_changed.connect(self._on_project_changed)
        context.project_modified.connect(self._check_timer.start)  # repeats or pictures changed: new step maths
        context.training_settings_changed.connect(self._on_shared_settings)
        context.device_changed.connect(self._on_device_changed)
        if context.device is not None:
            self._on_device_changed(context.device)
        self._on_project_changed(context.project)

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        heading = QLabel("Train a LoRA")
        heading.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self.project_label = QLabel()
        self.project_label.setProperty("muted", True)
        self.project_label.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet("background: palette(alternate-base); border: 1px solid palette(mid); border-radius: 4px; padding: 6px;")
        self.notice.hide()

        self.start_button = QPushButton("Start training")
        self.start_button.setProperty("primary", True)
        self.start_button.setToolTip("Check the settings and start training now.")
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last stopped run of this output from its newest saved state.")
        self.resume_button.clicked.connect(self.resume)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.setToolTip("Line up a run with these settings; it starts after the runs before it.")
        self.queue_button.clicked.connect(lambda: self.add_to_queue())
        self.file_button = QToolButton()
        self.file_button.setText("File")
        self.file_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.file_button)
        menu.addAction("Load settings…", self._load_dialog)
        menu.addAction("Save settings as…", self._save_dialog)
        menu.addSeparator()
        menu.addAction("Import kohya_ss / sd-scripts settings…", self._import_dialog)
        self.file_button.setMenu(menu)
        start_row = QHBoxLayout()
        for w in (self.start_button, self.resume_button, self.queue_button):
            start_row.addWidget(w)
        start_row.addStretch(1)
        start_row.addWidget(self.file_button)

        left = QWidget()
        lcol = QVBoxLayout(left)
        lcol.setContentsMargins(12, 10, 8, 10)
        lcol.addWidget(heading)
        lcol.addWidget(self.project_label)
        lcol.addWidget(self.notice)
        lcol.addWidget(self.presets)
        lcol.addWidget(self.form, 1)
        lcol.addWidget(self.preflight)
        lcol.addLayout(start_row)

        self.compare_button = QPushButton("Compare epochs")
        self.compare_button.setToolTip("Make a grid of every saved file × weights × sample prompts, to pick the best epoch.")
        self.compare_button.clicked.connect(self.compare_epochs)
        self.open_button = QPushButton("Open output folder")
        self.open_button.clicked.connect(self.open_output)
        self.monitor.buttons.addWidget(self.compare_button)
        self.monitor.buttons.addWidget(self.open_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Loss")
        self.tabs.addTab(self.gallery, "Samples")
        self.tabs.addTab(self.queue_widget, "Queue")
        self.tabs.addTab(self.monitor.log_view, "Run log")
        right = QWidget()
        rcol = QVBoxLayout(right)
        rcol.setContentsMargins(8, 10, 12, 10)
        rcol.addWidget(self.monitor)
        rcol.addWidget(self.tabs, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([470, 810])
        left.setMinimumWidth(430)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # -- config --------------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        return self.form.config()

    def set_config(self, config: TrainConfig) -> None:
        self.form.set_config(config)
        self._on_form_changed()

    def _project_defaults(self, config: TrainConfig) -> TrainConfig:
        project, root = self.context.project, self.context.project_path
        if project is None or root is None:
            return config
        changes: dict[str, Any] = {"dataset.path": str(root), "run.output_dir": str(root / OUTPUT_DIR)}
        base = str(getattr(getattr(project, "settings", None), "base_model", "") or "")
        if base and not config.model.base_model:
            changes["model.base_model"] = str((root / base) if not Path(base).is_absolute() else Path(base))
        if config.run.output_name in ("", "lora"):
            name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.context.project_name).strip("_")
            changes["run.output_name"] = name or "lora"
        return update(config, **changes)

    @Slot(object)
    def _on_project_changed(self, project: Any = None) -> None:
        root = self.context.project_path
        self.project_label.setText(f"Project: {self.context.project_name}" if project is not None else "No project open — open one in the Dataset tab, or choose pictures under Advanced.")
        config: TrainConfig | None = None
        if project is not None and root is not None:
            try:
                config = project_settings(root)
            except LoraStudioError as exc:
                self._show_notice(f"The saved training settings could not be read ({exc.message}); using a preset.")
        if config is None:
            family = self._detect_family(str(getattr(getattr(project, "settings", None), "base_model", "") or ""))
            config = default_settings(self.presets.current_purpose(), family, int(self.presets.vram.currentData()))
        self.set_config(self._project_defaults(config))

    @Slot(object)
    def _on_device_changed(self, device: Any) -> None:
        self._vram_gb = vram_from_device(getattr(device, "summary", ""), getattr(device, "details", ""))
        self.presets.set_vram_tier(vram_tier(self._vram_gb))
        self.preflight.set_fit_available(self._vram_gb is not None)
        self._check_timer.start()

    def _detect_family(self, path: str) -> ModelFamily | None:
        if not path or not Path(path).exists():
            return None
        try:
            from lora_studio.training.validation import sniff_family

            return sniff_family(path)
        except Exception:  # an unreadable model is reported by the checks, not here
            return None

    @Slot()
    def _on_form_changed(self) -> None:
        config = self.form.config()
        family = self._detect_family(config.model.base_model)
        if family != self._family:
            self._family = family
            self.form.set_detected_family(family)
        self.presets.set_family(config.model.family or family)
        self._check_timer.start()
        self._update_buttons()
        self.context.set_training_settings(config)  # the Dataset tab's step maths follow

    @Slot()
    def _on_settings_edited(self) -> None:
        """The user changed a setting here: share it and keep it in the project."""
        self._on_form_changed()
        self._remember(self.form.config())

    @Slot(object)
    def _on_shared_settings(self, config: Any) -> None:
        """Another panel changed the training settings (e.g. epochs in the Dataset tab): show and keep them."""
        if not isinstance(config, TrainConfig) or config == self.form.config():
            return
        self.form.set_config(config)
        self._on_form_changed()
        self._remember(self.form.config())

    @Slot()
    def refresh_checks(self) -> list[Any]:
        """Validate the settings, estimate memory and update the step maths. Returns the issues."""
        from lora_studio.training.config import validate

        config = self.form.config()
        try:
            issues = validate(config)
        except Exception as exc:  # a check that crashes must not take the panel down
            log.exception("Checking the training settings failed")
            issues = [_PlainIssue("dataset.path", f"The settings could not be checked: {exc}")]
        self.preflight.show_issues(issues)
        self.form.mark_problems({i.field: i.message for i in issues if i.is_error})
        vram = getattr(self, "_vram_gb", None)
        self.preflight.show_vram(estimate_vram(config, self._family, vram, calibration=self._calibration))
        self._step_counter.request(config, self.context.project)  # shown when counted (worker thread)
        return issues

    # -- presets and steps ---------------------------------------------------------------------
    @Slot(object, object, int)
    def apply_preset(self, purpose: Purpose, family: ModelFamily, vram_gb: int) -> None:
        current = self.form.config()
        keep = ("model.base_model", "model.vae", "dataset.path", "dataset.trigger_word", "dataset.caption_extension",
                "run.output_dir", "run.output_name", "run.device", "sample.prompts")
        fresh = preset(purpose, family, vram_gb)
        values = {k: _get(current, k) for k in keep}
        if current.sample.prompts:
            values["sample.every_n_epochs"] = current.sample.every_n_epochs or 1
        self.set_config(update(fresh, **values))
        self._remember(self.form.config())
        self._show_notice(f"Using the {purpose.value.replace('_', ' ')} preset for {family.label} on {vram_gb} GB.")

    @Slot(object)
    def automatic_steps(self, purpose: Purpose) -> None:
        project = self.context.project
        try:
            concepts = project.to_dataset(include_excluded=False).training_concepts() if project is not None else []
        except LoraStudioError:
            concepts = []
        images = sum(len(c.items) for c in concepts)
        if project is None or images == 0:
            self._show_notice("Open a project with pictures first; repeats and epochs are chosen from their number.")
            return
        auto = step_plan.automatic_steps(images, str(purpose))
        from lora_studio.dataset import project as project_module

        for c in concepts:
            if c.repeats != auto.repeats:
                project_module.update_concept(project, c.name, repeats=auto.repeats)
        self.form.set_value("run.epochs", auto.epochs)  # saved and shared once the form settles
        self._show_notice(f"Automatic steps: {auto.note}. Repeats were set on the project's concepts.")
        self.context.notify_project_modified()  # the Dataset tab shows the new repeats
        self._check_timer.start()

    # -- starting ------------------------------------------------------------------------------
    def _request(self, config: TrainConfig, *, resume: bool = False) -> RunRequest:
        name = config.run.output_name or "lora"
        return RunRequest(config=config, name=f"Resume {name}" if resume else name, resume=resume)

    @Slot()
    def start(self) -> bool:
        """Check everything; start a run with the form's settings when there is no error."""
        issues = self.refresh_checks()
        errors = [i for i in issues if i.is_error]
        if errors:
            self._show_notice(f"Fix the {len(errors)} problem(s) listed below first, then start again.")
            return False
        config = self.form.config()
        self._remember(config)
        self.queue.add(self._request(config))
        return self._start_queue()

    @Slot()
    def resume(self) -> bool:
        config = self.form.config()
        if find_latest_state(config.run.output_dir, config.run.output_name) is None:
            self._show_notice("There is nothing to resume: no saved state for this output name yet.")
            return False
        self.queue.add(self._request(config, resume=True))
        return self._start_queue()

    def add_to_queue(self, config: TrainConfig | None = None, name: str = "") -> QueueEntry:
        """Queue a run (the form's settings unless ``config`` is given). Problems don't block queueing."""
        config = config or self.form.config()
        request = self._request(config)
        if name:
            request = RunRequest(config=config, name=name)
        entry = self.queue.add(request)
        self.tabs.setCurrentWidget(self.queue_widget)
        return entry

    def _start_queue(self) -> bool:
        started = self.queue.start()
        if not started and self.queue.is_running:
            self._show_notice("Added to the queue; it starts when the current run ends.")
            self.tabs.setCurrentWidget(self.queue_widget)
        return started or self.queue.is_running

    def _remember(self, config: TrainConfig) -> None:
        """Keep ``config`` as the open project's training settings (its training.toml)."""
        root = self.context.project_path
        if root is not None and self.context.project is not None:
            try:
                save_toml_config(config, root / PROJECT_CONFIG)
            except OSError as exc:
                log.warning("Could not save the training settings in the project: %s", exc)

    # -- running -------------------------------------------------------------------------------
    @Slot(object, object)
    def _on_run_started(self, entry: QueueEntry, worker: Worker) -> None:
        self.worker = worker
        self._epochs = entry.request.config.run.epochs
        self.plot.clear()
        self.gallery.clear()
        self.monitor.start_run(entry.name)
        self.monitor.append_log(f"Run “{entry.name}” started.")
        self.tabs.setCurrentWidget(self.plot)
        self._update_buttons()

    @Slot(object, object)
    def _on_run_event(self, entry: QueueEntry, event: Event) -> None:
        if isinstance(event, StepFinished):
            self.plot.add_step(event.step, event.loss, event.lr)
            self.monitor.show_step(event, self._epochs)
        elif isinstance(event, EpochFinished):
            self.plot.add_epoch(event.step)
            self.monitor.append_log(f"Epoch {event.epoch} finished at step {event.step}; average loss {event.avg_loss:.4f}.")
        elif isinstance(event, ValidationLoss):
            self.plot.add_validation(event.step, event.loss)
            self.monitor.append_log(f"Validation loss after epoch {event.epoch}: {event.loss:.4f}.")
        elif isinstance(event, SampleReady):
            self.gallery.add_sample(event.path, event.step, event.epoch, event.prompt, event.prompt_index)
        elif isinstance(event, CheckpointSaved):
            self.plot.add_save(event.step, event.kind)
            what = "LoRA file" if event.kind == "lora" else "resume point"
            self.monitor.append_log(f"Saved {what} {Path(event.path).name} (step {event.step}).")
            if event.kind == "lora":
                entry.lora_files.append(event.path)
        elif isinstance(event, StatusChanged):
            if not (self.worker and self.worker.control.paused):
                self.monitor.set_status(event.text)
            self.monitor.append_log(event.text)
        elif isinstance(event, Progress):
            self.monitor.set_status(f"{event.text} {event.done}/{event.total}".strip())
            if event.done == event.total:
                self.monitor.append_log(f"{event.text}: {event.total} done.")
        elif isinstance(event, LogLine):
            self.monitor.append_log(f"[{event.level}] {event.text}")
        elif isinstance(event, HistoryLoaded):
            self.plot.add_history(event.losses)
            for step, value in event.validation:
                self.plot.add_validation(step, value)

    @Slot(object)
    def _on_run_ended(self, entry: QueueEntry) -> None:
        self.worker = None
        self.last_entry = entry
        done = entry.status == RunStatus.FINISHED
        text = {
            RunStatus.FINISHED: f"Finished “{entry.name}”. {entry.result}.",
            RunStatus.STOPPED: f"Stopped “{entry.name}”. Press Resume to continue it later.",
            RunStatus.FAILED: f"“{entry.name}” failed: {entry.result}",
        }.get(entry.status, entry.result)
        self.monitor.finish(text, done=done)
        self.monitor.append_log(text)
        self.plot.redraw()
        self._update_buttons()
        if entry.status == RunStatus.FAILED and entry.error is not None:
            if self.queue.waiting():
                self.monitor.append_log("The next run in the queue starts anyway.")
            else:
                show_error(_with_run_state_note(entry.error), self)

    @Slot()
    def stop(self) -> None:
        if self.queue.is_running:
            self.monitor.set_status("Stopping after this step and saving a resume point…")
            self.monitor.stop_button.setEnabled(False)
            self.queue.stop_current()

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        if self.worker is None:
            return
        if paused:
            self.worker.control.pause()
            self.monitor.set_status("Paused after the current step. The model stays loaded; press Resume to go on.")
        else:
            self.worker.control.resume()
            self.monitor.set_status("Training")

    def _send(self, command: Command, text: str) -> None:
        if self.worker is not None:
            self.worker.control.send(command)
            self.monitor.append_log(text)

    def _update_buttons(self) -> None:
        config = self.form.config()
        has_state = find_latest_state(config.run.output_dir, config.run.output_name) is not None
        self.resume_button.setEnabled(has_state and not self.queue.is_running)
        self.resume_button.setToolTip(
            "Continue the last stopped run of this output from its newest saved state." if has_state
            else "Nothing to resume yet: stopping a run saves a state you can continue from."
        )
        files = self._compare_files()
        self.compare_button.setEnabled(bool(files) and not self.queue.is_running and self._compare_worker is None)

    # -- after training ------------------------------------------------------------------------
    def _compare_files(self) -> list[str]:
        entry = self.last_entry
        if entry is None:
            return []
        files = list(entry.lora_files) + ([entry.final_lora] if entry.final_lora else [])
        return [f for f in dict.fromkeys(files) if Path(f).is_file()]

    @Slot()
    def compare_epochs(self) -> None:
        files = self._compare_files()
        self.compare_requested.emit(files)
        if self.last_entry is None or not files:
            return
        try:
            request = compare_request(self.last_entry.request.config, files)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Nothing to compare"), self)
            return
        worker = self._start_side_job(
            lambda r, c: run_compare(request, r, c),
            "Epoch comparison",
            self._on_compare_done,
            self._on_compare_failed,
            "Comparison can't start yet",
        )
        if worker is None:
            return
        self._compare_worker = worker
        self.monitor.set_status(f"Comparing {len(files)} saved files…")
        self._update_buttons()

    def _start_side_job(self, fn: Any, name: str, on_done: Any, on_failed: Any, busy_title: str) -> Worker | None:
        """Start a GPU job next to the run queue (comparison, memory fit); its status lines go to
        the monitor. None (after telling the user) when another GPU job is running."""
        worker = Worker(fn, name=name, gpu=True)
        worker.event.connect(self._on_compare_event)
        worker.finished.connect(on_done)
        worker.failed.connect(on_failed)
        worker.cancelled.connect(on_failed)
        try:
            self.context.jobs.start(worker)
        except JobBusyError as exc:
            show_error(ErrorInfo.from_exception(exc, title=busy_title), self)
            return None
        return worker

    @Slot(object)
    def _on_compare_event(self, event: Event) -> None:
        if isinstance(event, (StatusChanged, Progress)):
            self.monitor.set_status(getattr(event, "text", ""))

    @Slot(object)
    def _on_compare_done(self, result: Any) -> None:
        self._compare_worker = None
        self._update_buttons()
        paths = list(getattr(result, "grid_paths", []))
        self.monitor.set_status(f"Comparison ready: {len(paths)} grid(s) in {Path(paths[0]).parent}" if paths else "Comparison finished.")
        if paths:
            _GridDialog(paths, self).show()

    @Slot(object)
    def _on_compare_failed(self, info: ErrorInfo | None = None) -> None:
        self._compare_worker = None
        self._update_buttons()
        if info is not None:
            show_error(info, self)

    # -- measured memory fit ---------------------------------------------------------------------
    @Slot()
    def measure_fit(self) -> None:
        """Probe a few real steps on the card and switch to the cheapest settings that fit."""
        config = self.form.config()

        def job(reporter: Any, _control: Any) -> Any:
            from lora_studio.training.fit import measure_fit

            return measure_fit(config, report=lambda text: reporter(StatusChanged(text)))

        worker = self._start_side_job(
            job, "Memory fit", self._on_fit_done, self._on_fit_failed, "The memory fit can't start yet"
        )
        if worker is None:
            return
        self._fit_worker = worker
        self.preflight.fit_button.setEnabled(False)
        self.preflight.show_fit("Measuring memory on the graphics card…", True)

    @Slot(object)
    def _on_fit_done(self, choice: Any) -> None:
        from lora_studio.training.fit import calibration

        self._fit_worker = None
        self.preflight.fit_button.setEnabled(True)
        self.preflight.show_fit(choice.summary(), choice.fits)
        if choice.fits:
            formula = estimate_vram(choice.config, self._family, None)
            self._calibration = calibration(choice.measurement.peak_bytes, formula.total_gb)
            if choice.config != self.form.config():
                self.form.set_config(choice.config)
                self._on_settings_edited()
                self._show_notice(f"Measured on the card ({choice.step_name}): {choice.summary()}.")
        self._check_timer.start()

    @Slot(object)
    def _on_fit_failed(self, info: ErrorInfo | None = None) -> None:
        self._fit_worker = None
        self.preflight.fit_button.setEnabled(True)
        self.preflight.show_fit("The memory fit did not finish.", False)
        if info is not None:
            show_error(info, self)

    @Slot()
    def open_output(self) -> None:
        folder = Path(self.form.config().run.output_dir)
        if folder.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        else:
            self._show_notice(f"The output folder {folder} does not exist yet; it is made when training starts.")

    # -- settings files ------------------------------------------------------------------------
    def apply_loaded(self, loaded: LoadedConfig) -> None:
        """Use a loaded/imported config; say which keys were not understood."""
        self.set_config(self._project_defaults(loaded.config) if not loaded.config.dataset.path else loaded.config)
        self._remember(self.form.config())
        name = Path(loaded.source).name
        if loaded.not_understood:
            keys = ", ".join(loaded.not_understood[:40]) + (" …" if len(loaded.not_understood) > 40 else "")
            self._show_notice(f"Loaded {name}. {len(loaded.not_understood)} setting(s) were not understood and left out: {keys}")
        else:
            self._show_notice(f"Loaded {name}; every setting was understood.")
        if loaded.notes:
            self._show_notice(self.notice.text() + "\n" + "\n".join(loaded.notes))

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load training settings", "", "Training settings (*.toml)")
        if path:
            self._load_with(load_toml_config, path)

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import kohya settings", "", "kohya_ss / sd-scripts (*.json *.toml);;All files (*)")
        if path:
            self._load_with(import_kohya, path)

    def _load_with(self, loader: Any, path: str) -> None:
        try:
            self.apply_loaded(loader(path))
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Settings not loaded"), self)
        except (OSError, ValueError) as exc:
            show_error(ErrorInfo(f"The file {Path(path).name} could not be read: {exc}", "Pick another file.", title="Settings not loaded", expected=True), self)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save training settings", "training.toml", "Training settings (*.toml)")
        if path:
            try:
                saved = save_toml_config(self.form.config(), path)
            except OSError as exc:
                show_error(ErrorInfo(f"The settings could not be saved: {exc}", "Pick a folder you may write to.", title="Not saved", expected=True), self)
                return
            self._show_notice(f"Saved the settings to {saved}.")

    # -- small helpers -------------------------------------------------------------------------
    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    @Slot(str)
    def focus_field(self, key: str) -> None:
        editor = self.form.editors.get(key.split("[", 1)[0])
        if editor is None:
            return
        self.form.tabs.setCurrentIndex(0 if key in _basic_keys() else 1)
        editor.widget.setFocus()
        area = self.form.tabs.currentWidget()
        if isinstance(area, QScrollArea):
            area.ensureWidgetVisible(editor.widget)


class _GridDialog(QDialog):
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


class _PlainIssue:
    def __init__(self, field: str, message: str) -> None:
        self.field, self.message, self.is_error = field, message, True


def _get(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _basic_keys() -> tuple[str, ...]:
    from lora_studio.app.panels.training.settings_form import BASIC_ORDER

    return BASIC_ORDER


def _with_run_state_note(info: ErrorInfo) -> ErrorInfo:
    """Training errors keep the run's state: say so, so nobody fears the work is lost."""
    note = "The settings, the curve and any saved files are kept; a resume point was saved if training had started."
    hint = f"{info.hint} {note}".strip() if info.expected else info.hint
    return ErrorInfo(info.message, hint, info.details, info.title, info.expected)
