"""The Generation tab: try a LoRA by making pictures with it."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from lora_studio.app.state import AppContext
from lora_studio.app.widgets.empty_state_widget import EmptyStateWidget


class GenerationPanel(QWidget):
    title = "Generation"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(
            EmptyStateWidget(
                context,
                "Test your LoRA",
                "Here you make pictures with your LoRA to see what it learned.",
                [
                    "Write a prompt and generate pictures with one or more LoRAs",
                    "Change each LoRA's strength and compare results side by side",
                    "Make a grid across strengths, seeds or saved training steps",
                    "Pictures keep their settings, so other programs can read them",
                ],
            )
        )
