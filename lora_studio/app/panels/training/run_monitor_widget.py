"""What the running training is doing: status, progress, speed, time left, memory, and its controls."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.core.events import StepFinished

MAX_LOG_LINES = 5000


IDLE_TEXT = "Not training. Check the settings on the left, then press Start training."


def format_duration(seconds: float) -> str:
    if seconds <= 0 or seconds != seconds:
        return "–"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunMonitorWidget(QWidget):
    stop_requested = Signal()
    pause_toggled = Signal(bool)  # True: pause
    sample_now_requested = Signal()
    save_now_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._started = 0.0
        self._elapsed_before = 0.0
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)
        font = self.status.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.status.setFont(font)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.values: dict[str, QLabel] = {}
        stats = QGridLayout()
        stats.setHorizontalSpacing(14)
        stats.setVerticalSpacing(0)
        items = (
            ("step", "Step", "Optimizer steps done / planned."),
            ("epoch", "Epoch", "Passes over all pictures."),
            ("speed", "Speed", "Steps per second."),
            ("elapsed", "Elapsed", "Time spent training (including earlier sessions of a resumed run)."),
            ("eta", "Time left", "Estimated time until training finishes."),
            ("memory", "Memory", "Peak graphics memory used by training."),
            ("loss", "Loss (avg)", "Average loss over the current epoch. It should trend down slowly; it is noisy by nature."),
        )
        for col, (key, title, tip) in enumerate(items):
            caption = QLabel(title)
            caption.setProperty("muted", True)
            value = QLabel("–")
            vfont = value.font()
            vfont.setPointSizeF(vfont.pointSizeF() * 1.1)
            value.setFont(vfont)
            for w in (caption, value):
                w.setToolTip(tip)
            stats.addWidget(caption, 0, col)
            stats.addWidget(value, 1, col)
            self.values[key] = value
        stats.setColumnStretch(len(items), 1)

        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause after the current step; the model stays loaded. Press again to continue.")
        self.pause_button.toggled.connect(self._on_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Finish the current step, save everything needed to resume, then stop.")
        self.stop_button.clicked.connect(self.stop_requested)
        self.sample_button = QPushButton("Sample now")
        self.sample_button.setToolTip("Make sample pictures with the sample prompts after the current step.")
        self.sample_button.clicked.connect(self.sample_now_requested)
        self.save_button = QPushButton("Save now")
        self.save_button.setToolTip("Save a LoRA file (and a resume point) after the current step.")
        self.save_button.clicked.connect(self.save_now_requested)
        self.buttons = QHBoxLayout()
        for b in (self.pause_button, self.stop_button, self.sample_button, self.save_button):
            self.buttons.addWidget(b)
        self.buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addLayout(stats)
        layout.addLayout(self.buttons)

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        self.set_running(False)

    # -- state ---------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        for b in (self.pause_button, self.stop_button, self.sample_button, self.save_button):
            b.setEnabled(running)
        if not running:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)
            self._clock.stop()
        else:
            self._clock.start()

    def reset(self) -> None:
        """Show no run at all (another project was opened)."""
        self.set_running(False)
        self._elapsed_before = 0.0
        for label in self.values.values():
            label.setText("–")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.log_view.clear()
        self.set_status(IDLE_TEXT)

    def start_run(self, name: str) -> None:
        self._started = time.monotonic()
        self._elapsed_before = 0.0
        for label in self.values.values():
            label.setText("–")
        self.progress.setRange(0, 0)  # busy until the first step
        self.set_status(f"Starting “{name}”…")
        self.set_running(True)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def show_step(self, e: StepFinished, epochs: int) -> None:
        self.progress.setRange(0, max(1, e.total_steps))
        self.progress.setValue(e.step)
        v = self.values
        v["step"].setText(f"{e.step} / {e.total_steps}")
        v["epoch"].setText(f"{e.epoch} / {epochs}" if epochs else str(e.epoch))
        v["speed"].setText(f"{e.it_per_s:.2f} it/s" if e.it_per_s >= 0.1 else f"{1 / e.it_per_s:.1f} s/it" if e.it_per_s else "–")
        v["eta"].setText(format_duration(e.eta_s))
        v["memory"].setText(memory_text(e.memory_mb))
        v["loss"].setText(f"{e.avg_loss:.4f}")

    def set_elapsed_before(self, seconds: float) -> None:
        self._elapsed_before = seconds

    def finish(self, text: str, *, done: bool) -> None:
        self.set_running(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        if done:
            self.progress.setValue(self.progress.maximum())
            self.values["eta"].setText("0:00")
        self.set_status(text)

    def append_log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.log_view.appendPlainText(f"{stamp}  {text}")

    # -- internals -----------------------------------------------------------------------------
    def _tick(self) -> None:
        self.values["elapsed"].setText(format_duration(self._elapsed_before + time.monotonic() - self._started))

    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)


def memory_text(mb: float | None) -> str:
    """What the run holds: GB from 1 GB up, MB below (a tiny demo model holds a few MB, not "0.0 GB")."""
    if not mb:
        return "–"
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"
