"""A1111's hires fix as a collapsible group: upscale factor or resize-to, steps, denoising, upscaler."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox, QWidget

from lora_studio.generation.hires import DEFAULT_UPSCALER, HIRES_UPSCALERS, HiresFix
from lora_studio.generation.request import GenerationRequest

HIRES_TIP = (
    "Make the picture at the model's size first, then enlarge it and let the model add detail "
    "in a second pass (A1111's hires fix)."
)
HIRES_FLUX_TIP = "Hires fix works with SD 1.5, SD 2.x and SDXL models, not with FLUX.1."


class HiresFixWidget(QGroupBox):
    """Checked: the request gets a :class:`HiresFix`; unchecked, the group folds to its title."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hires fix", parent)
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip(HIRES_TIP)
        self.body = QWidget()
        self.scale = QDoubleSpinBox()
        self.scale.setRange(1.0, 4.0)
        self.scale.setSingleStep(0.25)
        self.scale.setValue(2.0)
        self.scale.setToolTip("How much bigger the final picture is (Hires upscale).")
        self.resize_w = QSpinBox()
        self.resize_h = QSpinBox()
        for spin, side in ((self.resize_w, "width"), (self.resize_h, "height")):
            spin.setRange(0, 4096)
            spin.setSingleStep(64)
            spin.setSpecialValueText("from upscale")
            spin.setToolTip(f"Resize to this {side} instead of the upscale factor (0: use the factor).")
        self.steps = QSpinBox()
        self.steps.setRange(0, 150)
        self.steps.setSpecialValueText("same as first pass")
        self.steps.setToolTip("Steps of the second pass (Hires steps); 0 uses the first pass's steps.")
        self.denoise = QDoubleSpinBox()
        self.denoise.setRange(0.01, 1.0)
        self.denoise.setSingleStep(0.05)
        self.denoise.setValue(0.7)
        self.denoise.setToolTip("How much the second pass may change (Denoising strength). 0.4–0.7 is usual.")
        self.upscaler = QComboBox()
        self.upscaler.addItems(HIRES_UPSCALERS)
        self.upscaler.setCurrentText(DEFAULT_UPSCALER)
        self.upscaler.setToolTip(
            "Latent: enlarge before decoding (needs denoising ≥ 0.5). Lanczos: enlarge the picture."
        )
        form = QFormLayout(self.body)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Upscale by", self.scale)
        form.addRow("Resize width", self.resize_w)
        form.addRow("Resize height", self.resize_h)
        form.addRow("Hires steps", self.steps)
        form.addRow("Denoising", self.denoise)
        form.addRow("Upscaler", self.upscaler)
        outer = QFormLayout(self)
        outer.addRow(self.body)
        self.toggled.connect(self.body.setVisible)
        self.body.setVisible(False)

    def hires(self) -> HiresFix | None:
        if not self.isChecked():
            return None
        return HiresFix(
            scale=round(self.scale.value(), 2),
            resize_width=self.resize_w.value(),
            resize_height=self.resize_h.value(),
            steps=self.steps.value(),
            denoise=round(self.denoise.value(), 2),
            upscaler=self.upscaler.currentText(),
        )

    def request_fields(self) -> dict[str, Any]:
        return {"hires": self.hires()}

    def apply_request(self, request: GenerationRequest) -> None:
        hires = request.hires
        self.setChecked(hires is not None)
        if hires is None:
            return
        self.scale.setValue(hires.scale)
        self.resize_w.setValue(hires.resize_width)
        self.resize_h.setValue(hires.resize_height)
        self.steps.setValue(hires.steps)
        self.denoise.setValue(hires.denoise)
        self.upscaler.setCurrentText(hires.upscaler)
