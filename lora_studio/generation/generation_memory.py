"""What the Generation tab remembers between sessions: LoRA weights and recent prompts.

Kept in ``<project>/.lorastudio/generation.json`` when a project is open (so the weights travel
with the project), else in the app's data folder. A broken file is set aside, never fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lora_studio.core import paths
from lora_studio.core.fileio import atomic_write_text

log = logging.getLogger(__name__)

MAX_HISTORY = 200
FILE_NAME = "generation.json"


@dataclass
class GenerationMemory:
    path: Path
    weights: dict[str, float] = field(default_factory=dict)  # LoRA name (lowercase) -> last weight
    history: list[tuple[str, str]] = field(default_factory=list)  # (prompt, negative), newest first

    @classmethod
    def location(cls, project_root: Path | None) -> Path:
        if project_root is not None:
            return Path(project_root) / ".lorastudio" / FILE_NAME
        return paths.data_dir() / FILE_NAME

    @classmethod
    def load(cls, project_root: Path | None) -> GenerationMemory:
        path = cls.location(project_root)
        memory = cls(path)
        if not path.exists():
            return memory
        try:
            data = json.loads(path.read_text("utf-8"))
            memory.weights = {str(k): float(v) for k, v in dict(data.get("lora_weights", {})).items()}
            memory.history = [(str(p), str(n)) for p, n in data.get("prompt_history", [])][:MAX_HISTORY]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("Could not read %s (%s); starting fresh.", path, exc)
        return memory

    def weight(self, lora_name: str, default: float = 1.0) -> float:
        return self.weights.get(lora_name.lower(), default)

    def set_weight(self, lora_name: str, weight: float) -> None:
        self.weights[lora_name.lower()] = round(float(weight), 4)

    def add_prompt(self, prompt: str, negative: str) -> None:
        if not prompt.strip() and not negative.strip():
            return
        entry = (prompt, negative)
        self.history = [entry, *[h for h in self.history if h != entry]][:MAX_HISTORY]

    def save(self) -> None:
        data = {
            "lora_weights": dict(sorted(self.weights.items())),
            "prompt_history": [list(h) for h in self.history],
        }
        try:
            atomic_write_text(self.path, json.dumps(data, indent=1, ensure_ascii=False))
        except OSError as exc:  # remembering is a convenience; never stop the user for it
            log.warning("Could not save %s: %s", self.path, exc)
