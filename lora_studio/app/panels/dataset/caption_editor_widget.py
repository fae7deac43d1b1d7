"""One picture's caption, as tag chips and as plain text, kept in sync, with autocomplete and a
token count. Edits are handed to the panel, which saves them through the undo history."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QPixmap
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.dataset.tag_chips_widget import TagChipsWidget
from lora_studio.dataset import captions as cap
from lora_studio.dataset.scan import ImageRow

TOKEN_CHUNK = 75  # CLIP reads 75 tokens at a time; kohya's --max_token_length allows 150 or 225


def token_message(count: int) -> tuple[str, str]:
    """(text, colour) describing ``count`` tokens against CLIP's 75 / 150 / 225 limits."""
    if count <= TOKEN_CHUNK:
        return f"{count} of {TOKEN_CHUNK} tokens", "#1a7f37"
    if count <= 3 * TOKEN_CHUNK:
        limit = 150 if count <= 150 else 225
        return (
            f"{count} tokens: needs a token limit of {limit} (Training → captions), "
            f"or the end is cut off",
            "#9a6700",
        )
    return f"{count} tokens: longer than 225, the end will be cut off", "#cf222e"


class _CaptionText(QPlainTextEdit):
    focus_lost = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        super().focusOutEvent(event)
        self.focus_lost.emit()


class CaptionEditorWidget(QWidget):
    caption_edited = Signal(ImageRow, str)  # ImageRow, new caption text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: ImageRow | None = None
        self._saved_text = ""

        self.preview = QLabel()
        self.preview.setFixedSize(96, 96)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel("No picture selected")
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setWordWrap(True)
        self.subtitle = QLabel()
        self.subtitle.setProperty("muted", True)
        self.subtitle.setWordWrap(True)
        head_text = QVBoxLayout()
        head_text.addWidget(self.title)
        head_text.addWidget(self.subtitle)
        head_text.addStretch(1)
        head = QHBoxLayout()
        head.addWidget(self.preview)
        head.addLayout(head_text, 1)

        self.chips = TagChipsWidget()
        self.chips.setMinimumHeight(90)
        self.chips.tags_changed.connect(self._on_chips_changed)

        self.tag_input = QLineEdit()
        self.tag_input.setPlaceholderText("Add a tag… (Enter adds it; commas add several)")
        self._completion_model = QStringListModel(self)
        self.completer = QCompleter(self._completion_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setModelSorting(QCompleter.ModelSorting.UnsortedModel)  # most used first
        self.completer.setMaxVisibleItems(12)
        self.tag_input.setCompleter(self.completer)
        self.tag_input.returnPressed.connect(self._add_from_input)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self._add_from_input)
        self.tag_input.textChanged.connect(self._update_add_button)
        self._update_add_button()
        add_row = QHBoxLayout()
        add_row.addWidget(self.tag_input, 1)
        add_row.addWidget(self.add_button)

        self.text = _CaptionText()
        self.text.setPlaceholderText("The caption as plain text. Tags are separated by commas.")
        self.text.setTabChangesFocus(True)
        self.text.textChanged.connect(self._on_text_changed)
        self.text.focus_lost.connect(self.commit)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(700)
        self._debounce.timeout.connect(self.commit)

        self.tokens = QLabel()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #9a6700;")
        self.note.hide()

        tags_label = QLabel("Tags")
        tags_label.setStyleSheet("font-weight: 600;")
        text_label = QLabel("Caption text")
        text_label.setStyleSheet("font-weight: 600;")
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(tags_label)
        layout.addWidget(self.chips, 2)
        layout.addLayout(add_row)
        layout.addSpacing(6)
        layout.addWidget(text_label)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.tokens)
        layout.addWidget(self.note)
        self.set_row(None)

    # -- inputs from the panel -----------------------------------------------------------------
    def set_frequency(self, frequency: Counter[str]) -> None:
        ranked = sorted(frequency.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
        self._completion_model.setStringList([t for t, _ in ranked])

    def set_preview(self, pixmap: QPixmap | None) -> None:
        if pixmap is None or pixmap.isNull():
            self.preview.clear()
            return
        self.preview.setPixmap(
            pixmap.scaled(
                self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    def set_row(self, row: ImageRow | None) -> None:
        """Show ``row``'s caption (saving any pending edit of the previous picture first)."""
        if self.row is not None and row is not None and row.path == self.row.path:
            pending = self._current_text() != self._saved_text
            self.row = row
            self._show_subtitle(row)  # e.g. the first tag has just made its caption file
            if not pending and row.caption != self._saved_text:
                self._show_text(row.caption)  # changed on disk (undo, bulk edit): show it
            return
        self.commit()
        self.row = row
        enabled = row is not None and not row.caption_readonly
        for w in (self.chips, self.tag_input, self.text):
            w.setEnabled(enabled)
        if row is None:
            self.title.setText("No picture selected")
            self.subtitle.setText("Click a picture to write its caption.")
            self.preview.clear()
            self._show_text("")
            return
        self.title.setText(row.name)
        self._show_subtitle(row)
        self._show_text(row.caption)
        if row.caption_readonly:
            self._show_note(
                "This caption file is not saved as UTF-8, so it is shown but not changed. "
                "Use the Check tab to convert it."
            )

    def _show_subtitle(self, row: ImageRow) -> None:
        size = f"{row.width} × {row.height} px · " if row.width else ""
        source = "caption file" if row.has_caption else "no caption file yet"
        self.subtitle.setText(f"{size}concept “{row.concept}” · {source}")

    def _show_text(self, text: str) -> None:
        self._saved_text = text
        self.text.blockSignals(True)
        self.text.setPlainText(text)
        self.text.blockSignals(False)
        self.chips.set_tags(cap.parse_tags(text))
        self._update_tokens(text)
        multi = "\n" in text.strip()
        self.chips.setDragEnabled(not multi)
        self._show_note(
            "This caption has several lines (one is picked at random in training). "
            "Edit it as text to keep the lines."
            if multi
            else ""
        )

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    # -- edits ---------------------------------------------------------------------------------
    def _current_text(self) -> str:
        return self.text.toPlainText().strip()

    def _on_chips_changed(self, tags: list[str]) -> None:
        text = cap.join_tags(tags)
        self.text.blockSignals(True)
        self.text.setPlainText(text)
        self.text.blockSignals(False)
        self._update_tokens(text)
        self.commit()

    def _on_text_changed(self) -> None:
        text = self.text.toPlainText()
        self.chips.set_tags(cap.parse_tags(text))
        self._update_tokens(text)
        self._debounce.start()

    def _update_add_button(self) -> None:
        """Disabled, saying why, until a tag is typed: pressing it with nothing typed would do nothing."""
        typed = bool(cap.parse_tags(self.tag_input.text()))
        self.add_button.setEnabled(typed)
        self.add_button.setToolTip(
            "Add the typed tags to the caption" if typed else "Type a tag in the box first"
        )

    def _add_from_input(self) -> None:
        tags = cap.parse_tags(self.tag_input.text())
        self.tag_input.clear()
        if tags:
            self.chips.add_tags(tags)

    def add_tag(self, tag: str) -> None:
        self.chips.add_tags([tag])

    def commit(self) -> None:
        """Hand a changed caption to the panel (which saves it with undo)."""
        self._debounce.stop()
        if self.row is None or self.row.caption_readonly:
            return
        text = self._current_text()
        if text == self._saved_text:
            return
        self._saved_text = text
        self.caption_edited.emit(self.row, text)

    def _update_tokens(self, text: str) -> None:
        count = cap.count_tokens(text)
        message, color = token_message(count)
        self.tokens.setText(message)
        self.tokens.setStyleSheet(f"color: {color};")
