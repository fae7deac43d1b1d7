"""How many training steps a dataset makes (kohya's counting). Qt-free, pure."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConceptCount:
    name: str
    images: int
    repeats: int
    regularization: bool = False

    @property
    def per_epoch(self) -> int:
        return self.images * self.repeats


@dataclass(frozen=True, slots=True)
class StepPlan:
    concepts: tuple[ConceptCount, ...]
    epochs: int
    batch_size: int

    @property
    def images_per_epoch(self) -> int:
        """Training pictures × repeats (regularization pictures are balanced against them)."""
        return sum(c.per_epoch for c in self.concepts if not c.regularization)

    @property
    def uses_regularization(self) -> bool:
        return any(c.regularization and c.images for c in self.concepts)

    @property
    def samples_per_epoch(self) -> int:
        # kohya pairs every training sample with a regularization sample, doubling the epoch.
        return self.images_per_epoch * (2 if self.uses_regularization else 1)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.samples_per_epoch / max(1, self.batch_size))

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * max(1, self.epochs)


def plain_summary(plan: StepPlan) -> list[str]:
    """The step maths in plain words, one line each."""
    lines = []
    for c in plan.concepts:
        what = " (regularization)" if c.regularization else ""
        lines.append(f"{c.name}{what}: {c.images} pictures × {c.repeats} repeats = {c.per_epoch}")
    reg = " × 2 for regularization" if plan.uses_regularization else ""
    lines.append(
        f"One epoch: {plan.images_per_epoch}{reg} ÷ batch {plan.batch_size} = {plan.steps_per_epoch} steps"
    )
    lines.append(f"{plan.epochs} epochs = {plan.total_steps} steps in total")
    return lines
