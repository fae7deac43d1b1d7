"""The Auto-caption dialog's options: one page for taggers (thresholds, tags to leave out) and one
for sentence captioners (start text, length)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from lora_studio.captioning.base import ModelFolder, OutputKind, SentenceOptions, TaggerOptions, get_spec


class CaptionOptionsWidget(QStackedWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addWidget(self._build_tagger_page())
        self.addWidget(self._build_sentence_page())

    def _build_tagger_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        defaults = TaggerOptions()
        self.general_threshold = _threshold(defaults.general_threshold)
        self.general_threshold.setToolTip("Lower: more tags, some wrong. Higher: fewer, surer tags.")
        self.character_threshold = _threshold(defaults.character_threshold)
        self.character_threshold.setToolTip("How sure the model must be before it names a known character.")
        self.include_rating = QCheckBox("Add the rating tag (general, sensitive …)")
        self.include_rating.setChecked(defaults.include_rating)
        self.exclude_tags = QLineEdit()
        self.exclude_tags.setPlaceholderText("e.g. simple background, watermark")
        self.exclude_tags.setToolTip("Tags never to write, separated by commas")
        self.underscores = QCheckBox("Spaces instead of underscores")
        self.underscores.setChecked(defaults.replace_underscores)
        self.underscores.setToolTip("long_hair becomes long hair (faces like ^_^ stay as they are)")
        form.addRow("Tag threshold", self.general_threshold)
        form.addRow("Character threshold", self.character_threshold)
        form.addRow("Leave out", self.exclude_tags)
        form.addRow("", self.include_rating)
        form.addRow("", self.underscores)
        return page

    def _build_sentence_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        defaults = SentenceOptions()
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("e.g. a photo of")
        self.prompt.setToolTip("The caption starts with this text and the model goes on from there")
        self.keep_prompt = QCheckBox("Keep the start text in the caption")
        self.keep_prompt.setChecked(defaults.keep_prompt)
        self.max_length = QSpinBox()
        self.max_length.setRange(5, 200)
        self.max_length.setValue(defaults.max_new_tokens)
        self.max_length.setSuffix(" words (about)")
        self.max_length.setToolTip("The longest caption the model may write, in tokens (about one word each)")
        form.addRow("Start with", self.prompt)
        form.addRow("", self.keep_prompt)
        form.addRow("Longest caption", self.max_length)
        return page

    def show_for(self, folder: ModelFolder | None) -> None:
        """The page of the options ``folder``'s model takes."""
        self.setCurrentIndex(1 if _writes_sentences(folder) else 0)

    def options(self, folder: ModelFolder | None) -> TaggerOptions | SentenceOptions:
        if (
            folder is not None
            and folder.kind is not None
            and get_spec(folder.kind).options_type is SentenceOptions
        ):
            return SentenceOptions(
                prompt=self.prompt.text().strip(),
                keep_prompt=self.keep_prompt.isChecked(),
                max_new_tokens=self.max_length.value(),
                min_new_tokens=min(5, self.max_length.value()),
            )
        exclude = tuple(t.strip() for t in self.exclude_tags.text().split(",") if t.strip())
        return TaggerOptions(
            general_threshold=self.general_threshold.value(),
            character_threshold=self.character_threshold.value(),
            include_rating=self.include_rating.isChecked(),
            exclude_tags=exclude,
            replace_underscores=self.underscores.isChecked(),
        )


def _writes_sentences(folder: ModelFolder | None) -> bool:
    return folder is not None and folder.kind is not None and get_spec(folder.kind).output == OutputKind.SENTENCE


def _threshold(value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.01, 1.0)
    spin.setSingleStep(0.05)
    spin.setDecimals(2)
    spin.setValue(value)
    return spin
