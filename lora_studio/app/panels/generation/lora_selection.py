"""The LoRAs in use: one state object that the mixer rows and the prompt's ``<lora:…>`` tags both bind to.

A choice keeps the per-part strengths a tag may carry (``<lora:name:0.8:unet=1:te=0.3>``), so moving
a slider changes the overall strength without dropping them, and the request the engine receives has
the same numbers the prompt shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal

from lora_studio.app.observable import Binding, ObservableState, Prop
from lora_studio.app.panels.generation.lora_mixer_widget import LoraMixerWidget
from lora_studio.app.panels.generation.prompt_editor_widget import PromptEditorWidget
from lora_studio.generation.request import LoraSpec, read_lora_tags, remove_lora_tag, set_lora_tag


@dataclasses.dataclass(frozen=True, slots=True)
class LoraChoice:
    """One LoRA in use: its name (file stem), overall strength and optional per-part strengths."""

    name: str
    weight: float = 1.0
    unet_weight: float | None = None
    te_weight: float | None = None

    @property
    def key(self) -> str:
        return self.name.strip().lower()


class LoraSelection(ObservableState):
    """The LoRAs in use, in prompt order (names compare case-insensitively, as A1111 does)."""

    choices_changed = Signal(tuple)
    choices = Prop[tuple[LoraChoice, ...]](())

    def get(self, name: str) -> LoraChoice | None:
        key = name.strip().lower()
        return next((c for c in self.choices if c.key == key), None)

    def put(self, choice: LoraChoice) -> None:
        """Use ``choice``: replace the one with its name, else add it at the end."""
        if self.get(choice.name) is None:
            self.choices = (*self.choices, choice)
        else:
            self.choices = tuple(choice if c.key == choice.key else c for c in self.choices)

    def remove(self, name: str) -> None:
        key = name.strip().lower()
        self.choices = tuple(c for c in self.choices if c.key != key)

    def set_specs(self, specs: tuple[LoraSpec, ...]) -> None:
        self.choices = tuple(LoraChoice(s.name, s.weight, s.unet_weight, s.te_weight) for s in specs)

    def specs(self, path_for: Callable[[str], Path | None]) -> tuple[LoraSpec, ...]:
        """The request's LoRAs; ``path_for`` finds a name's file (None: not known, left out)."""
        specs = []
        for c in self.choices:
            path = path_for(c.name)
            if path is not None:
                specs.append(LoraSpec(str(path), c.weight, True, c.unet_weight, c.te_weight))
        return tuple(specs)


def choices_in(text: str) -> tuple[LoraChoice, ...]:
    """The choices the complete tags of a prompt describe (the first tag of a name wins)."""
    found: dict[str, LoraChoice] = {}
    for tag in read_lora_tags(text):
        choice = LoraChoice(tag.name.strip(), tag.weight, tag.unet_weight, tag.te_weight)
        found.setdefault(choice.key, choice)
    return tuple(found.values())


def prompt_with(text: str, choices: tuple[LoraChoice, ...]) -> str:
    """``text`` with exactly the tags of ``choices``: others removed, changed ones rewritten."""
    written = {c.key: c for c in choices_in(text)}
    for key, old in written.items():
        if all(c.key != key for c in choices):
            text = remove_lora_tag(text, old.name)
    for c in choices:
        if written.get(c.key) != c:
            text = set_lora_tag(text, c.name, c.weight, unet_weight=c.unet_weight, te_weight=c.te_weight)
    return text


def bind_prompt(selection: LoraSelection, editor: PromptEditorWidget) -> Binding:
    """The prompt's tags and the selection stay equal: typing a tag selects, selecting writes a tag."""
    binding = Binding()

    def from_prompt(text: str) -> None:
        if binding.updating:
            return
        binding.updating = True
        try:
            selection.choices = choices_in(text)
        finally:
            binding.updating = False

    def to_prompt(choices: tuple[LoraChoice, ...]) -> None:
        if binding.updating:
            return
        binding.updating = True
        try:
            editor.set_prompt(prompt_with(editor.prompt.text, choices))
        finally:
            binding.updating = False

    binding.connect(editor.prompt_edited, from_prompt)
    binding.connect(selection.choices_changed, to_prompt)
    from_prompt(editor.prompt.text)
    return binding


def bind_mixer(selection: LoraSelection, mixer: LoraMixerWidget) -> Binding:
    """Mixer rows show the selection; ticking a box or moving a slider changes it (per-part weights
    of a tag stay)."""
    binding = Binding()

    def from_mixer(name: str, enabled: bool, weight: float) -> None:
        if binding.updating:
            return
        binding.updating = True
        try:
            old = selection.get(name)
            if not enabled:
                selection.remove(name)
            elif old is None:
                selection.put(LoraChoice(name, weight))
            else:
                selection.put(dataclasses.replace(old, weight=weight))
        finally:
            binding.updating = False

    def to_mixer(choices: tuple[LoraChoice, ...]) -> None:
        if binding.updating:
            return
        chosen = {c.key: c for c in choices}
        for key, row in mixer.rows.items():
            choice = chosen.get(key)
            if choice is not None and (
                not row.enabled or row.name.lower() != key or abs(row.weight - choice.weight) > 1e-6
            ):
                mixer.set_lora(key, True, choice.weight)
            elif choice is None and row.enabled:
                mixer.set_lora(key, False)

    binding.connect(mixer.changed, from_mixer)
    binding.connect(selection.choices_changed, to_mixer)
    binding.connect(mixer.rows_replaced, lambda: to_mixer(selection.choices))
    to_mixer(selection.choices)
    return binding
