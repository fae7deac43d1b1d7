"""The Dataset tab: pictures, captions and crops."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from lora_studio.app.state import AppContext
from lora_studio.app.widgets.empty_state_widget import EmptyStateWidget


class DatasetPanel(QWidget):
    title = "Dataset"

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(
            EmptyStateWidget(
                context,
                "Your pictures",
                "Here you gather the pictures the LoRA learns from and describe each one.",
                [
                    "Add a folder of pictures, or drag pictures in",
                    "Write captions by hand, or let a captioning model suggest them",
                    "Crop each picture to what matters, and spot blurry or duplicate ones",
                    "Group pictures into concepts (a character, a style) with their own trigger word",
                ],
            )
        )
