"""FLUX.1's distilled guidance and how the model's weights are held (full precision, fp8, NF4)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QWidget

from lora_studio.core.families import ModelFamily
from lora_studio.generation.request import DISTILLED_CFG_DEFAULT, DISTILLED_CFG_MAX, GenerationRequest

DISTILLED_TIP = (
    "FLUX.1-dev was trained to take its guidance as an input: this is how closely the picture "
    "follows the prompt (Forge's “Distilled CFG Scale”). 3.5 is usual; 2–3 looks more natural."
)
SCHNELL_TIP = "FLUX.1 schnell has no guidance input: it follows the prompt by itself in about 4 steps."
WEIGHTS = (
    ("Full precision", "full", "The model as its file holds it (most memory, the reference picture)."),
    (
        "8-bit (fp8)",
        "fp8",
        "Keeps the model in 8-bit: uses about half the memory, pictures almost the same. "
        "LoRAs are applied beside it (not built in), so steps are a little slower.",
    ),
    (
        "4-bit (NF4)",
        "nf4",
        "Keeps the model in 4-bit (bitsandbytes): about a quarter of the memory; pictures change a "
        "little more than with 8-bit.",
    ),
)


class ModelOptionsWidget(QWidget):
    """Shown under the sampler settings: "Distilled CFG Scale" (FLUX.1 only) and "Model weights"."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._flux = False
        self._schnell = False
        self.distilled_cfg = QDoubleSpinBox()
        self.distilled_cfg.setRange(0.0, DISTILLED_CFG_MAX)
        self.distilled_cfg.setSingleStep(0.1)
        self.distilled_cfg.setDecimals(1)
        self.distilled_cfg.setValue(DISTILLED_CFG_DEFAULT)
        self.distilled_label = QLabel("Distilled CFG Scale")
        self.base_weights = QComboBox()
        for label, value, tip in WEIGHTS:
            self.base_weights.addItem(label, value)
            self.base_weights.setItemData(self.base_weights.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.base_weights.currentIndexChanged.connect(self._on_weights)
        self.distilled_cfg.valueChanged.connect(self.changed)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        for row, (label, widget) in enumerate(
            ((self.distilled_label, self.distilled_cfg), (QLabel("Model weights"), self.base_weights))
        ):
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
        grid.setColumnStretch(1, 1)
        self._on_weights()
        self.set_family(None)

    def _on_weights(self, *_: object) -> None:
        self.base_weights.setToolTip(WEIGHTS[max(0, self.base_weights.currentIndex())][2])
        self.changed.emit()

    def set_family(self, family: ModelFamily | None, schnell: bool = False) -> None:
        """Distilled CFG Scale is shown for FLUX.1 only, and greyed out (saying why) for schnell."""
        self._flux = family == ModelFamily.FLUX
        self._schnell = self._flux and schnell
        for widget in (self.distilled_label, self.distilled_cfg):
            widget.setVisible(self._flux)
        self.distilled_cfg.setEnabled(self._flux and not self._schnell)
        self.distilled_cfg.setToolTip(SCHNELL_TIP if self._schnell else DISTILLED_TIP)

    def base_weights_value(self) -> str:
        return str(self.base_weights.currentData())

    def request_fields(self) -> dict[str, Any]:
        distilled = round(self.distilled_cfg.value(), 2) if self._flux and not self._schnell else None
        return {"distilled_cfg": distilled, "base_weights": self.base_weights_value()}

    def apply_request(self, request: GenerationRequest) -> None:
        if request.distilled_cfg is not None:
            self.distilled_cfg.setValue(request.distilled_cfg)
        index = self.base_weights.findData(request.base_weights)
        if index >= 0:
            self.base_weights.setCurrentIndex(index)
