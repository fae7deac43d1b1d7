"""The Generation tab's state: values only (no widgets, no engine calls) that the view binds to."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal

from lora_studio.app.observable import ObservableState, Prop
from lora_studio.app.panels.generation.lora_selection import LoraChoice, LoraSelection
from lora_studio.generation.generation_memory import GenerationMemory
from lora_studio.generation.model_library import Library


class GenerationState(ObservableState):
    status_changed = Signal(str)
    status = Prop("Ready.")  # the line under the Generate button
    loaded_native_changed = Signal(int)
    loaded_native = Prop(0)  # the loaded model's native picture size (0: none loaded)

    def __init__(self, project_root: Path | None) -> None:
        super().__init__()
        self.library = Library()
        self.selection = LoraSelection(self)
        self.memory = GenerationMemory.load(project_root)
        self.selection.choices_changed.connect(self._remember_weights)

    def _remember_weights(self, choices: tuple[LoraChoice, ...]) -> None:
        for choice in choices:
            self.memory.set_weight(choice.name, choice.weight)
