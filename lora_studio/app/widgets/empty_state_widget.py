"""An honest placeholder for a panel: what it will let you do, and which project is open."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lora_studio.app.state import AppContext


class EmptyStateWidget(QWidget):
    def __init__(
        self,
        context: AppContext,
        title: str,
        intro: str,
        features: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context

        self.title = QLabel(title)
        self.title.setProperty("role", "heading")
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        items = "".join(f"<li style='margin-bottom:6px'>{feature}</li>" for feature in features)
        self.features = QLabel(f"<ul style='margin-left:-16px'>{items}</ul>")
        self.features.setTextFormat(Qt.TextFormat.RichText)
        self.features.setWordWrap(True)

        self.project_label = QLabel()
        self.project_label.setWordWrap(True)
        self.project_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.new_button = QPushButton("New project…")
        self.new_button.clicked.connect(context.new_project_requested)
        self.open_button = QPushButton("Open project…")
        self.open_button.clicked.connect(context.open_project_requested)
        self.demo_button = QPushButton("Try the demo project")
        self.demo_button.clicked.connect(context.demo_project_requested)
        self.new_button.setProperty("primary", True)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        for button in (self.new_button, self.open_button, self.demo_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.buttons = QWidget()
        self.buttons.setLayout(buttons)
        buttons.setContentsMargins(0, 0, 0, 0)

        card = QFrame()
        card.setObjectName("emptyStateCard")
        card.setMaximumWidth(680)
        column = QVBoxLayout(card)
        column.setContentsMargins(36, 32, 36, 28)
        column.setSpacing(12)
        column.addWidget(self.title)
        column.addWidget(self.intro)
        column.addWidget(self.features)
        column.addSpacing(8)
        column.addWidget(self.project_label)
        column.addWidget(self.buttons)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(48, 40, 48, 40)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        context.project_changed.connect(self._update_project)
        self._update_project()

    def _update_project(self, *_: object) -> None:
        path = self.context.project_path
        if path is None:
            self.project_label.setText(
                "<b>No project is open.</b> Start a new one, open one, or try the demo."
            )
        else:
            self.project_label.setText(
                f"<b>Project:</b> {self.context.project_name}<br><small>{path}</small>"
            )
        self.buttons.setVisible(path is None)
