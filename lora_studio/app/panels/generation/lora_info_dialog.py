"""A LoRA's facts in plain words: what it is for, how it was trained, and its likely trigger words."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lora_studio.generation.model_library import LoraItem

if TYPE_CHECKING:
    from lora_studio.formats.lora_info import LoraInfo


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n >= 1024**2 else f"{n / 1024:.0f} KB"


def _facts(info: LoraInfo) -> list[tuple[str, str]]:
    t = info.training
    facts: list[tuple[str, str]] = [
        (
            "Made for",
            (info.family.label if info.family else "unknown")
            + (" (from the file's notes)" if info.family_source == "metadata" else ""),
        ),
        ("File", f"{info.path.name} · {_size(info.file_size)}"),
        ("Format", info.format.value.replace("_", " ")),
        (
            "Size of the LoRA",
            f"dim {info.rank}, alpha {info.alpha:g}"
            if info.rank and info.alpha is not None
            else str(info.rank or "unknown"),
        ),
        ("Changes the text encoder", "yes" if info.has_text_encoder else "no"),
    ]
    if info.conv_rank is not None:
        alpha = f", alpha {info.conv_alpha:g}" if info.conv_alpha is not None else ""
        facts.insert(4, ("Size of the conv part (LoCon)", f"dim {info.conv_rank}{alpha}"))
    optional = [
        ("Base model used", t.base_model_name),
        ("Epoch", f"{t.epoch}" + (f" of {t.epochs}" if t.epochs else "") if t.epoch else ""),
        ("Training steps", f"{t.steps}" if t.steps else ""),
        ("Training pictures", f"{t.num_train_images}" if t.num_train_images else ""),
        ("Resolution", f"{t.resolution[0]}×{t.resolution[1]}" if t.resolution else ""),
        ("Learning rate", f"{t.learning_rate:g}" if t.learning_rate else ""),
        ("Optimizer", t.optimizer),
        ("Clip skip", f"{t.clip_skip}" if t.clip_skip else ""),
        (
            "Trained on",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(t.training_finished_at))
            if t.training_finished_at
            else "",
        ),
        ("Title", t.title),
        ("Author", t.author),
        ("Description", t.description),
    ]
    facts += [(k, v) for k, v in optional if v]
    return facts


class LoraInfoDialog(QDialog):
    insert_requested = Signal(str)  # a trigger word to add to the prompt

    def __init__(self, item: LoraItem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from lora_studio.core.errors import LoraStudioError
        from lora_studio.formats.lora_info import inspect_lora

        self.item = item
        self.setWindowTitle(f"About {item.name}")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        title = QLabel(item.name)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        self.trigger_buttons: list[QPushButton] = []
        try:
            info = inspect_lora(item.path)
        except LoraStudioError as exc:
            message = QLabel(f"{exc.message}\n{exc.hint}")
            message.setWordWrap(True)
            layout.addWidget(message)
            info = None
        if info is not None:
            layout.addWidget(self._triggers(info))
            tabs = QTabWidget()
            tabs.addTab(self._facts_page(info), "Details")
            tags = info.tag_counts().most_common(40)
            if tags:
                tabs.addTab(self._tags_page(tags), "Training tags")
            raw = QPlainTextEdit("\n".join(f"{k}: {v}" for k, v in sorted(info.metadata.items())))
            raw.setReadOnly(True)
            raw.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            tabs.addTab(raw, "All notes in the file")
            layout.addWidget(tabs, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _triggers(self, info: LoraInfo) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        words = info.suggested_triggers(6)
        label = QLabel(
            "<b>Suggested trigger words</b> — click one to add it to your prompt:"
            if words
            else "This LoRA records no trigger words or training tags."
        )
        column.addWidget(label)
        row = QHBoxLayout()
        for word in words:
            button = QPushButton(word)
            button.setToolTip(f"Add “{word}” to the prompt")
            button.clicked.connect(lambda _=False, w=word: self.insert_requested.emit(w))
            self.trigger_buttons.append(button)
            row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        return box

    def _facts_page(self, info: LoraInfo) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        for r, (key, value) in enumerate(_facts(info)):
            k = QLabel(key)
            k.setProperty("muted", True)
            v = QLabel(value)
            v.setTextFormat(Qt.TextFormat.PlainText)
            v.setWordWrap(True)
            v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(k, r, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(v, r, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(grid.rowCount(), 1)
        return page

    def _tags_page(self, tags: list[tuple[str, int]]) -> QWidget:
        text = QPlainTextEdit("\n".join(f"{n:>5}  {tag}" for tag, n in tags))
        text.setReadOnly(True)
        return text
