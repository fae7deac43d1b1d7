"""The Auto-caption dialog's options: one page per kind of captioner — taggers (thresholds, tags to
leave out), BLIP (start text, length), Florence-2 (caption task) and the captioners that follow an
instruction (Qwen-VL, JoyCaption: the instruction, the trigger word, 8/4-bit loading)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from lora_studio.captioning.base import (
    CaptionOptions,
    FlorenceOptions,
    FlorenceTask,
    InstructOptions,
    ModelFolder,
    Quantization,
    SentenceOptions,
    TaggerOptions,
    get_spec,
)

PAGES: tuple[type[CaptionOptions], ...] = (TaggerOptions, SentenceOptions, FlorenceOptions, InstructOptions)
TASK_LABELS = {
    FlorenceTask.CAPTION: "Short (one line)",
    FlorenceTask.DETAILED: "Detailed (a few sentences)",
    FlorenceTask.MORE_DETAILED: "Very detailed (a paragraph)",
}
QUANT_LABELS = {
    Quantization.NONE: "Full precision",
    Quantization.EIGHT_BIT: "8-bit (graphics card)",
    Quantization.FOUR_BIT: "4-bit (graphics card; fits 8 GB)",
}


class CaptionOptionsWidget(QStackedWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addWidget(self._build_tagger_page())
        self.addWidget(self._build_sentence_page())
        self.addWidget(self._build_florence_page())
        self.addWidget(self._build_instruct_page())

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

    def _build_florence_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        defaults = FlorenceOptions()
        self.florence_task = QComboBox()
        for task, label in TASK_LABELS.items():
            self.florence_task.addItem(label, task.value)
        self.florence_task.setCurrentIndex(self.florence_task.findData(defaults.task.value))
        self.florence_task.setToolTip(
            "Florence-2's caption task: <CAPTION>, <DETAILED_CAPTION> or <MORE_DETAILED_CAPTION>"
        )
        self.florence_length = _length(defaults.max_new_tokens)
        form.addRow("Caption", self.florence_task)
        form.addRow("Longest caption", self.florence_length)
        return page

    def _build_instruct_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        defaults = InstructOptions()
        self.instruction = QPlainTextEdit(defaults.instruction)
        self.instruction.setMaximumHeight(90)
        self.instruction.setToolTip(
            "What the model is asked for each picture, e.g. “Describe the character's clothes and pose; "
            "don't describe the art style”. {trigger} becomes the concept's trigger word."
        )
        self.name_trigger = QCheckBox("Tell the model the trigger word")
        self.name_trigger.setChecked(defaults.name_trigger)
        self.name_trigger.setToolTip(
            "Adds “Refer to the main subject as <trigger>.” unless the instruction has {trigger}"
        )
        self.quantization = QComboBox()
        for quant, label in QUANT_LABELS.items():
            self.quantization.addItem(label, quant.value)
        self.quantization.setToolTip(
            "8 or 4 bit needs less graphics memory (bitsandbytes); the CPU always uses full precision"
        )
        self.instruct_length = _length(defaults.max_new_tokens)
        form.addRow("Instruction", self.instruction)
        form.addRow("", self.name_trigger)
        form.addRow("Load", self.quantization)
        form.addRow("Longest caption", self.instruct_length)
        return page

    def show_for(self, folder: ModelFolder | None) -> None:
        """The page of the options ``folder``'s model takes."""
        self.setCurrentIndex(PAGES.index(_options_type(folder)))

    def options(self, folder: ModelFolder | None) -> CaptionOptions:
        kind = _options_type(folder)
        if kind is FlorenceOptions:
            return FlorenceOptions(
                task=FlorenceTask(self.florence_task.currentData()),
                max_new_tokens=self.florence_length.value(),
            )
        if kind is InstructOptions:
            return InstructOptions(
                instruction=self.instruction.toPlainText().strip() or InstructOptions().instruction,
                name_trigger=self.name_trigger.isChecked(),
                quantization=Quantization(self.quantization.currentData()),
                max_new_tokens=self.instruct_length.value(),
            )
        if kind is SentenceOptions:
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


def _options_type(folder: ModelFolder | None) -> type[CaptionOptions]:
    if folder is None or folder.kind is None:
        return TaggerOptions
    kind = get_spec(folder.kind).options_type
    return kind if kind in PAGES else TaggerOptions


def _length(value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(5, 1024)
    spin.setValue(value)
    spin.setSuffix(" words (about)")
    spin.setToolTip("The longest caption the model may write, in tokens (about one word each)")
    return spin


def _threshold(value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.01, 1.0)
    spin.setSingleStep(0.05)
    spin.setDecimals(2)
    spin.setValue(value)
    return spin
