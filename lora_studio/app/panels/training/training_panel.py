"""The Training tab: settings, start/stop, loss curve and sample pictures."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from lora_studio.app.state import AppContext
from lora_studio.app.widgets.empty_state_widget import EmptyStateWidget


class TrainingPanel(QWidget):
    title = "Training"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(
            EmptyStateWidget(
                context,
                "Train a LoRA",
                "Here you teach a base model your pictures and watch it learn.",
                [
                    "Pick a base model and a ready-made preset for your graphics card",
                    "Start, pause and stop training; resume later where you left off",
                    "Follow the learning curve and sample pictures as they are made",
                    "Keep the LoRA files saved along the way and compare them",
                ],
            )
        )
