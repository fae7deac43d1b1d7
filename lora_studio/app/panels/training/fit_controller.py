"""The Training tab's measured memory fit: "Measure fit" probes a few real steps on the card, shows
"fits: 13.8 of 16 GB, 1.9 s/step", applies the cheapest settings that fit, and calibrates the
formula estimate shown before a probe has run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.training.side_job import start_side_job
from lora_studio.app.state import DeviceInfo
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import RunControl
from lora_studio.core.events import Reporter, StatusChanged
from lora_studio.training.vram_estimate import estimate_vram, vram_from_device

if TYPE_CHECKING:
    from lora_studio.app.panels.training.training_panel import TrainingPanel
    from lora_studio.training.fit import FitChoice


class FitController(QObject):
    def __init__(self, view: TrainingPanel) -> None:
        super().__init__(view)
        self.view = view
        self.worker: Worker | None = None
        view.preflight.fit_button.clicked.connect(self.measure_fit)
        view.context.device_changed.connect(self._on_device_changed)
        self._on_device_changed(view.context.device)

    @Slot(DeviceInfo)
    def _on_device_changed(self, device: DeviceInfo | None) -> None:
        vram = vram_from_device(device.summary, device.details) if device is not None else None
        self.view.preflight.set_fit_available(vram is not None)

    @Slot()
    def measure_fit(self) -> None:
        """Probe a few real steps on the card and switch to the cheapest settings that fit."""
        view = self.view
        config = view.config()

        def job(reporter: Reporter, _control: RunControl) -> FitChoice:
            from lora_studio.training.fit import measure_fit

            return measure_fit(config, report=lambda text: reporter(StatusChanged(text)))

        worker = start_side_job(
            view,
            view.context,
            view.monitor.set_status,
            job,
            "Memory fit",
            on_done=self._on_done,
            on_failed=self._on_failed,
            busy_title="The memory fit can't start yet",
        )
        if worker is None:
            return
        self.worker = worker
        view.preflight.fit_button.setEnabled(False)
        view.preflight.show_fit("Measuring memory on the graphics card…", True)

    @Slot(object)
    def _on_done(self, choice: FitChoice) -> None:
        from lora_studio.training.fit import calibration

        view = self.view
        self.worker = None
        view.preflight.fit_button.setEnabled(True)
        view.preflight.show_fit(choice.summary(), choice.fits)
        if choice.fits:
            formula = estimate_vram(choice.config, view.form_control.family, None)
            view.form_control.calibration = calibration(choice.measurement.peak_bytes, formula.total_gb)
            if choice.config != view.config():
                view.set_config(choice.config)
                view.show_notice(f"Measured on the card ({choice.step_name}): {choice.summary()}.")
        view.form_control.check_timer.start()

    @Slot()
    def _on_failed(self, info: ErrorInfo | None = None) -> None:
        self.worker = None
        self.view.preflight.fit_button.setEnabled(True)
        self.view.preflight.show_fit("The memory fit did not finish.", False)
        if info is not None:
            show_error(info, self.view)
