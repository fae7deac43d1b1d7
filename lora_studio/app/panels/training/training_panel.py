"""The Training tab: settings with guidance, checks before start, live plots, samples, queue, resume.

Left: preset, settings form (Basic/Advanced), step maths, problems and memory estimate, start
buttons. Right: the running run (status, progress, controls) and tabs with the loss plot, the
sample pictures, the queue and the run's log. The panel is the view; ``form_control`` (settings),
``runs`` (run control) and ``monitor_control`` (the running run, comparing epochs) do the work.
Runs go through :class:`RunQueue`, which starts workers on the app's JobRunner; this module never
imports torch.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
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

from lora_studio.app.panels.training.advisor_controller import AdvisorController
from lora_studio.app.panels.training.epoch_advice_widget import EpochAdviceWidget
from lora_studio.app.panels.training.fit_controller import FitController
from lora_studio.app.panels.training.form_controller import FormController
from lora_studio.app.panels.training.loss_plot_widget import LossPlotWidget
from lora_studio.app.panels.training.monitor_controller import MonitorController
from lora_studio.app.panels.training.preflight_widget import PreflightWidget
from lora_studio.app.panels.training.preset_bar import PresetBar
from lora_studio.app.panels.training.queue_widget import QueueWidget
from lora_studio.app.panels.training.run_controller import RESUME_TIP, START_TIP, RunController
from lora_studio.app.panels.training.run_monitor_widget import RunMonitorWidget
from lora_studio.app.panels.training.run_queue import RunQueue
from lora_studio.app.panels.training.sample_gallery_widget import SampleGalleryWidget
from lora_studio.app.panels.training.settings_form import BASIC_ORDER, SettingsForm
from lora_studio.app.state import AppContext
from lora_studio.training.config import TrainConfig


class TrainingPanel(QWidget):
    title = "Training"
    compare_requested = Signal(list)  # saved LoRA files of the last run, for the Generation panel

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.queue = RunQueue(context.jobs, parent=self)
        self.form = SettingsForm()
        self.presets = PresetBar()
        self.preflight = PreflightWidget()
        self.monitor = RunMonitorWidget()
        self.plot = LossPlotWidget()
        self.gallery = SampleGalleryWidget()
        self.queue_widget = QueueWidget(self.queue)
        self.advice = EpochAdviceWidget()
        self._build()
        self.monitor_control = MonitorController(self)
        self.advisor = AdvisorController(self)
        self.runs = RunController(self)
        self.form_control = FormController(self)
        self.fit_control = FitController(self)
        self.form_control.on_project_changed(context.project)

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
        self.notice.setStyleSheet(
            "background: palette(alternate-base); border: 1px solid palette(mid); border-radius: 4px; padding: 6px;"
        )
        self.notice.hide()

        self.start_button = QPushButton("Start training")
        self.start_button.setProperty("primary", True)
        self.start_button.setToolTip(START_TIP)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip(RESUME_TIP)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.setToolTip("Line up a run with these settings; it starts after the runs before it.")
        self.file_button = QToolButton()
        self.file_button.setText("File")
        self.file_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.file_button)
        self.load_action = menu.addAction("Load settings…")
        self.save_action = menu.addAction("Save settings as…")
        menu.addSeparator()
        self.import_action = menu.addAction("Import kohya_ss / sd-scripts settings…")
        self.file_button.setMenu(menu)
        start_row = QHBoxLayout()
        for w in (self.start_button, self.resume_button, self.queue_button):
            start_row.addWidget(w)
        start_row.addStretch(1)
        start_row.addWidget(self.file_button)

        left = QWidget()
        lcol = QVBoxLayout(left)
        lcol.setContentsMargins(12, 10, 8, 10)
        for part in (heading, self.project_label, self.notice, self.presets):
            lcol.addWidget(part)
        lcol.addWidget(self.form, 1)
        lcol.addWidget(self.preflight)
        lcol.addLayout(start_row)

        self.compare_button = QPushButton("Compare epochs")
        self.compare_button.setToolTip(
            "Make a grid of every saved file × weights × sample prompts, to pick the best epoch."
        )
        self.advise_button = QPushButton("Which epoch should I keep?")
        self.advise_button.setToolTip(
            "Judge every saved file: validation loss, changes to pictures without the trigger word, "
            "steadiness across weights — and recommend one."
        )
        self.open_button = QPushButton("Open output folder")
        self.monitor.buttons.addWidget(self.advise_button)
        self.monitor.buttons.addWidget(self.compare_button)
        self.monitor.buttons.addWidget(self.open_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Loss")
        self.tabs.addTab(self.gallery, "Samples")
        self.tabs.addTab(self.queue_widget, "Queue")
        self.tabs.addTab(self.advice, "Which epoch?")
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

    # -- the settings (one copy: the app context's) ----------------------------------------------
    def config(self) -> TrainConfig:
        return self.form_control.config()

    def set_config(self, config: TrainConfig) -> None:
        self.context.training.config = config

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    @Slot(str)
    def focus_field(self, key: str) -> None:
        editor = self.form.editors.get(key.split("[", 1)[0])
        if editor is None:
            return
        self.form.tabs.setCurrentIndex(0 if key in BASIC_ORDER else 1)
        editor.widget.setFocus()
        area = self.form.tabs.currentWidget()
        if isinstance(area, QScrollArea):
            area.ensureWidgetVisible(editor.widget)
