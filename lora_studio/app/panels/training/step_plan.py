"""Step maths (pictures × repeats × epochs ÷ batch) and "Automatic steps". Pure, Qt-free.

Counts follow the trainer: an epoch shows every training picture ``repeats`` times; with
regularization pictures each training sample is paired with one, doubling the epoch; a step is one
optimizer update, i.e. ``batch_size × grad_accumulation`` samples. Picture-shape buckets can add a
few partly filled batches, so the numbers are "about" when buckets are on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lora_studio.training.config import TrainConfig


@dataclass(frozen=True, slots=True)
class ConceptCount:
    name: str
    images: int
    repeats: int
    regularization: bool = False


@dataclass(frozen=True, slots=True)
class StepPlan:
    concepts: tuple[ConceptCount, ...]
    epochs: int
    batch_size: int
    grad_accumulation: int = 1
    max_steps: int = 0

    @property
    def images(self) -> int:
        return sum(c.images for c in self.concepts if not c.regularization)

    @property
    def samples_per_epoch(self) -> int:
        train = sum(c.images * c.repeats for c in self.concepts if not c.regularization)
        has_reg = any(c.regularization and c.images for c in self.concepts)
        return train * (2 if has_reg else 1)

    @property
    def steps_per_epoch(self) -> int:
        batches = math.ceil(self.samples_per_epoch / max(1, self.batch_size))
        return max(1, math.ceil(batches / max(1, self.grad_accumulation))) if batches else 0

    @property
    def total_steps(self) -> int:
        if self.max_steps > 0:
            return self.max_steps
        return self.steps_per_epoch * max(1, self.epochs)

    def summary(self) -> str:
        """One line: ``12 pictures × 10 repeats = 120 ÷ batch 2 = 60 steps × 10 epochs = 600 steps``."""
        if not self.concepts:
            return "Open a project with pictures to see how many steps this makes."
        parts = []
        train = [c for c in self.concepts if not c.regularization]
        if len({c.repeats for c in train}) == 1 and train:
            parts.append(f"{self.images} pictures × {train[0].repeats} repeats")
        else:
            parts.append(" + ".join(f"{c.images}×{c.repeats}" for c in train) or "0 pictures")
        text = f"{parts[0]} = {self.samples_per_epoch}"
        if any(c.regularization and c.images for c in self.concepts):
            text += " (×2 with regularization)"
        batch = self.batch_size * max(1, self.grad_accumulation)
        text += f" ÷ batch {batch} = {self.steps_per_epoch} steps per epoch"
        if self.max_steps > 0:
            return text + f"; stops at {self.max_steps} steps"
        return text + f" × {self.epochs} epochs = {self.total_steps} steps"


def plan_for(config: TrainConfig, concepts: tuple[ConceptCount, ...]) -> StepPlan:
    r = config.run
    return StepPlan(concepts, r.epochs, r.batch_size, r.grad_accumulation, r.max_steps)


def count_project(project: Any) -> tuple[ConceptCount, ...]:
    """Picture counts of an open ``lora_studio.dataset.project.Project`` (a folder listing, no decoding)."""
    if project is None:
        return ()
    counts = []
    for concept in getattr(project, "concepts", ()):
        try:
            n = len(project.image_keys(concept.name))
        except (OSError, AttributeError, LookupError):
            n = 0
        reg = str(getattr(concept.kind, "value", concept.kind)) == "regularization"
        counts.append(ConceptCount(concept.name, n, concept.repeats, reg))
    return tuple(counts)


# Samples seen per epoch and epochs, per purpose (community rules of thumb for kohya LoRAs).
_TARGETS: dict[str, tuple[int, int]] = {"style": (200, 10), "character": (150, 10), "quick_test": (40, 2)}


@dataclass(frozen=True, slots=True)
class AutoSteps:
    repeats: int
    epochs: int
    note: str


def automatic_steps(images: int, purpose: str) -> AutoSteps:
    """Repeats and epochs for ``images`` training pictures: about 150–200 samples per epoch."""
    per_epoch, epochs = _TARGETS.get(purpose, _TARGETS["character"])
    if images <= 0:
        return AutoSteps(1, epochs, "Add pictures first.")
    repeats = max(1, min(100, round(per_epoch / images)))
    note = f"{images} pictures → {repeats} repeats × {epochs} epochs (about {images * repeats} pictures per epoch)"
    return AutoSteps(repeats, epochs, note)
