"""Prompt and negative prompt boxes with token counters and a prompt history menu."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.dataset import captions as cap
from lora_studio.generation.request import strip_lora_tags

CHUNK = 75  # CLIP sees 75 tokens at a time; longer prompts are split into chunks of 75


class PromptBox(QPlainTextEdit):
    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)

    @property
    def text(self) -> str:
        return self.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the text but keep the cursor near where it was (the prompt is re-written by sync)."""
        if text == self.toPlainText():
            return
        position = self.textCursor().position()
        self.setPlainText(text)
        cursor = self.textCursor()
        cursor.setPosition(min(position, len(text)))
        self.setTextCursor(cursor)


class PromptEditorWidget(QWidget):
    prompt_edited = Signal(str)  # the user typed in the prompt (debounced)
    negative_edited = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Exact CLIP counts (pure Python, no transformers import); an approximation only when the
        # bundled vocabulary is missing.
        self._count: Callable[[str], int] = cap.clip_counter()
        self._history: list[tuple[str, str]] = []

        self.prompt = PromptBox("Describe the picture, e.g. “a photo of miso the cat on a sofa”")
        self.negative = PromptBox("What you don't want, e.g. “blurry, text, watermark”")
        self.prompt.setMinimumHeight(70)
        self.negative.setMaximumHeight(64)
        self.prompt_count = QLabel()
        self.negative_count = QLabel()
        for label in (self.prompt_count, self.negative_count):
            label.setProperty("muted", True)
            label.setToolTip(
                "Tokens: the model reads prompts in pieces of 75 tokens. Longer prompts still work, "
                "split into pieces."
            )

        self.history_button = QToolButton()
        self.history_button.setText("History")
        self.history_button.setToolTip("Prompts you used before")
        self.history_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.history_menu = QMenu(self.history_button)
        self.history_button.setMenu(self.history_menu)
        self.history_menu.aboutToShow.connect(self._fill_history)

        top = QHBoxLayout()
        top.addWidget(self._bold("Prompt"))
        top.addStretch(1)
        top.addWidget(self.prompt_count)
        top.addWidget(self.history_button)
        neg = QHBoxLayout()
        neg.addWidget(self._bold("Negative prompt"))
        neg.addStretch(1)
        neg.addWidget(self.negative_count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.prompt, 2)
        layout.addLayout(neg)
        layout.addWidget(self.negative, 1)

        self._prompt_timer = self._debounce(lambda: self.prompt_edited.emit(self.prompt.text))
        self._negative_timer = self._debounce(lambda: self.negative_edited.emit(self.negative.text))
        self.prompt.textChanged.connect(self._on_prompt_changed)
        self.negative.textChanged.connect(self._on_negative_changed)
        self._update_counts()

    @staticmethod
    def _bold(text: str) -> QLabel:
        label = QLabel(text)
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        return label

    def _debounce(self, fn: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(350)
        timer.timeout.connect(fn)
        return timer

    # -- programmatic access ---------------------------------------------------------------------
    def set_prompt(self, text: str, *, notify: bool = False) -> None:
        self.prompt.blockSignals(True)
        self.prompt.set_text(text)
        self.prompt.blockSignals(False)
        self._update_counts()
        if notify:
            self.prompt_edited.emit(text)

    def set_negative(self, text: str) -> None:
        self.negative.blockSignals(True)
        self.negative.set_text(text)
        self.negative.blockSignals(False)
        self._update_counts()

    def insert_words(self, words: str) -> None:
        """Add words (a trigger word) at the start of the prompt, where they weigh most."""
        text = self.prompt.text.strip()
        if words.lower() in strip_lora_tags(text).lower().split(", "):
            return
        self.set_prompt(f"{words}, {text}" if text else words, notify=True)

    def flush(self) -> None:
        """Deliver pending debounced edits now (before generating)."""
        for timer in (self._prompt_timer, self._negative_timer):
            if timer.isActive():
                timer.stop()
                timer.timeout.emit()

    def set_history(self, history: list[tuple[str, str]]) -> None:
        self._history = list(history)

    # -- internals -------------------------------------------------------------------------------
    def _on_prompt_changed(self) -> None:
        self._update_counts()
        self._prompt_timer.start()

    def _on_negative_changed(self) -> None:
        self._update_counts()
        self._negative_timer.start()

    def token_count(self, text: str) -> tuple[int, bool]:
        """(count, exact) for ``text`` without its LoRA tags."""
        clean = strip_lora_tags(text)
        return self._count(clean), self._count is not cap.approximate_token_count

    def _update_counts(self) -> None:
        for box, label in ((self.prompt, self.prompt_count), (self.negative, self.negative_count)):
            n, exact = self.token_count(box.text)
            limit = CHUNK * max(1, math.ceil(n / CHUNK))
            label.setText(f"{'' if exact else '≈'}{n}/{limit}")

    def _fill_history(self) -> None:
        self.history_menu.clear()
        if not self._history:
            action = self.history_menu.addAction("No prompts yet")
            action.setEnabled(False)
            return
        for prompt, negative in self._history[:30]:
            shown = prompt.replace("\n", " ")
            action = QAction(shown[:90] + ("…" if len(shown) > 90 else ""), self.history_menu)
            action.setToolTip(f"{prompt}\nNegative: {negative}")
            action.triggered.connect(lambda _=False, p=prompt, n=negative: self._use(p, n))
            self.history_menu.addAction(action)

    def _use(self, prompt: str, negative: str) -> None:
        self.set_negative(negative)
        self.set_prompt(prompt, notify=True)
