"""The step maths below the concepts: the Training tab's epochs (or "Stop after … steps") and batch
size, shown and changed through the app's one copy of the training settings (``AppContext.training``),
and the steps they make, counted on a worker thread as the trainer counts them."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from lora_studio.app.state import AppContext
from lora_studio.app.workers.step_counter import StepCounter
from lora_studio.dataset import project as proj
from lora_studio.training import step_plan
from lora_studio.training.config import TrainConfig, update
from lora_studio.training.config_files import project_settings_or_default
from lora_studio.training.steps import StepCount

# The first spin box of the step maths: (label, maximum, suffix, tooltip) for training set by epochs,
# or by a number of steps (the Training tab's "Stop after steps").
_EPOCHS = (
    "Epochs",
    10_000,
    "",
    "How many times every picture (× its repeats) is seen. "
    "The Training tab's “Epochs”: changing it here changes it there.",
)
_STOP_AFTER = (
    "Stop after",
    10_000_000,
    " steps",
    "Training is set to stop after this many steps, whatever the epochs. "
    "The Training tab's “Stop after steps” (0 there lets the epochs decide).",
)


class TrainingStepsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None, *, context: AppContext | None = None) -> None:
        super().__init__("Training steps", parent)
        self.project: proj.Project | None = None
        self._context: AppContext | None = None
        self._counter = StepCounter(self)
        self._counter.counted.connect(self._show_count)
        # The Training tab's settings: epochs (or "Stop after … steps" when it is set) and batch size.
        self.epochs_label = QLabel("Epochs")
        self.epochs = QSpinBox()
        self.epochs.setKeyboardTracking(False)  # one change when typing is done, not one per digit
        self.epochs.valueChanged.connect(self._on_epochs_edited)
        self.epochs_label.setBuddy(self.epochs)
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setKeyboardTracking(False)
        self.batch.setToolTip(
            "Pictures per step. The Training tab's “Batch size”: changing it here changes it there."
        )
        self.batch.valueChanged.connect(self._on_batch_edited)
        batch_label = QLabel("Batch size")
        batch_label.setBuddy(self.batch)
        self.steps_label = QLabel()
        self.steps_label.setWordWrap(True)
        self.steps_label.setTextFormat(Qt.TextFormat.RichText)
        self.shared_note = QLabel(
            "Epochs and batch size are the Training tab's settings: change them here or there."
        )
        self.shared_note.setWordWrap(True)
        self.shared_note.setProperty("muted", True)
        spins = QFormLayout()
        spins.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        for spin in (self.epochs, self.batch):
            spin.setMinimumWidth(80)
        spins.addRow(self.epochs_label, self.epochs)
        spins.addRow(batch_label, self.batch)
        steps_column = QVBoxLayout(self)
        steps_column.addLayout(spins)
        steps_column.addWidget(self.steps_label)
        steps_column.addWidget(self.shared_note)
        if context is not None:
            self.set_context(context)

    def set_context(self, context: AppContext) -> None:
        """Share the training settings with the app's other tabs (the Training tab holds them)."""
        if context is self._context:
            return
        if self._context is not None:
            self._context.training.config_changed.disconnect(self._on_training_settings)
        self._context = context
        context.training.config_changed.connect(self._on_training_settings)
        self.update_steps()

    def app_context(self) -> AppContext | None:
        """The app context: given, or the one of the panel this box is part of."""
        if self._context is None:
            parent = self.parentWidget()
            while parent is not None:
                found = getattr(parent, "context", None)
                if isinstance(found, AppContext):
                    self._context = found
                    found.training.config_changed.connect(self._on_training_settings)
                    break
                parent = parent.parentWidget()
        return self._context


    def training_settings(self) -> TrainConfig:
        """The project's training settings, shared with the Training tab (the app context holds the
        one copy; without a context, the project's saved ones)."""
        context = self.app_context()
        if context is not None:
            return context.training.current()
        return project_settings_or_default(self.project.root if self.project else None)

    def _on_training_settings(self, config: TrainConfig | None) -> None:
        if config is not None:
            self.update_steps()

    def _change_settings(self, **changes: Any) -> None:
        config = update(self.training_settings(), **changes)
        context = self.app_context()
        if context is not None:
            context.training.edit(config)  # saved in the project; the Training tab shows them

    def _on_epochs_edited(self, value: int) -> None:
        by_steps = self.training_settings().run.max_steps > 0
        self._change_settings(**{"run.max_steps" if by_steps else "run.epochs": value})

    def _on_batch_edited(self, value: int) -> None:
        self._change_settings(**{"run.batch_size": value})

    def _show_settings(self, config: TrainConfig) -> None:
        run = config.run
        label, maximum, suffix, tip = _STOP_AFTER if run.max_steps > 0 else _EPOCHS
        self.epochs_label.setText(label)
        self.epochs.setToolTip(tip)
        with QSignalBlocker(self.epochs), QSignalBlocker(self.batch):  # showing is not editing
            self.epochs.setRange(1, maximum)
            self.epochs.setSuffix(suffix)
            self.epochs.setValue(run.max_steps if run.max_steps > 0 else run.epochs)
            self.batch.setValue(run.batch_size)

    def step_count(self) -> StepCount | None:
        """The steps training will make with the project's settings (None: no pictures to count)."""
        if self.project is None:
            return None
        return step_plan.count_for(self.training_settings(), self.project)

    def update_steps(self) -> None:
        """Show the settings now and count the steps on a worker thread (headers of every picture)."""
        config = self.training_settings()
        self._show_settings(config)
        if self.project is None or not self.project.concepts:
            self._show_count(None, config)
            return
        if not self.steps_label.text() or self.steps_label.text().startswith("Add a concept"):
            self.steps_label.setText("Counting the steps…")
        self._counter.request(config, self.project)

    def _show_count(self, count: StepCount | None, config: TrainConfig) -> None:
        if count is None or count.training_samples == 0:
            self.steps_label.setText("Add a concept and some pictures to see how long training takes.")
            return
        lines = [html.escape(line) for line in step_plan.summary_lines(count)]
        if not step_plan.uses_project(config, self.project):
            folder = html.escape(Path(config.dataset.path).name or config.dataset.path)
            note = f"Training is set to use the pictures in “{folder}”, not this project's (Training tab › Pictures)."
            lines.insert(0, f"<i>{note}</i>")
        self.steps_label.setText("<br>".join(lines[:-1]) + f"<br><b>{lines[-1]}</b>")
