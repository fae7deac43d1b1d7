"""Step maths in plain words, for the Training and Dataset tabs, and "Automatic steps". Qt-free.

The counting itself is :func:`lora_studio.training.steps.count_steps`, the code the trainer uses:
repeats, regularization balancing, held-out validation pictures, pictures left out, shape buckets,
batch size, gradient accumulation and max steps. Here it gets the pictures training will use and
its result is put into words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset.items import Dataset
from lora_studio.dataset.project import Project
from lora_studio.training.config import TrainConfig
from lora_studio.training.presets import Purpose, flux_epochs
from lora_studio.training.steps import StepCount, count_steps


def uses_project(config: TrainConfig, project: Project | None) -> bool:
    """True when ``config`` trains on the open ``project`` (an empty "Pictures" setting counts as it)."""
    if project is None:
        return False
    path = config.dataset.path
    return not path or _same_folder(Path(path), Path(project.root))


def training_dataset(config: TrainConfig, project: Project | None) -> Dataset | None:
    """The pictures training with ``config`` will use: the open project's (without pictures marked
    "leave out"), or the folder ``dataset.path`` names. None when there is nothing to read."""
    try:
        if project is not None and uses_project(config, project):
            return project.to_dataset(include_excluded=False)
        path = config.dataset.path
        if path and Path(path).is_dir():
            from lora_studio.dataset.io import load_dataset

            return load_dataset(path, caption_extension=config.dataset.caption_extension)
    except (LoraStudioError, OSError):
        return None
    return None


def count_for(config: TrainConfig, project: Project | None) -> StepCount | None:
    """The steps a run with ``config`` will make, or None when there are no pictures to count."""
    dataset = training_dataset(config, project)
    if dataset is None:
        return None
    try:
        return count_steps(dataset, config)
    except LoraStudioError:
        return None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def _n(count: int, word: str, plural: str = "") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _epoch(count: StepCount) -> str:
    """``60 ÷ batch size 2 = 30 steps`` (with regularization, shape buckets and accumulation as they apply)."""
    run = count.run
    samples = str(count.training_samples)
    if count.uses_regularization:
        samples += f" + {count.regularization_samples} regularization = {count.samples_per_epoch}"
    shapes = " (pictures of different shapes don't share a batch)" if count.batches > count.plain_batches else ""
    text = f"{samples} ÷ batch size {run.batch_size} = "
    if run.grad_accumulation > 1:
        return text + f"{_n(count.batches, 'batch', 'batches')}{shapes}, one step every {run.grad_accumulation} batches = {_n(count.steps_per_epoch, 'step')}"
    return text + f"{_n(count.steps_per_epoch, 'step')}{shapes}"


def _total(count: StepCount) -> str:
    run = count.run
    if run.max_steps > 0:
        full, rest = divmod(count.total_steps, count.steps_per_epoch)
        if not rest:
            epochs = _n(full, "epoch")
        else:
            epochs = f"{_n(full, 'epoch')} and part of one more" if full else "part of one epoch"
        return f"Stops after {_n(count.total_steps, 'step')} ({epochs})"
    return f"{_n(run.epochs, 'epoch')} × {_n(count.steps_per_epoch, 'step')} = {_n(count.total_steps, 'step')}"


def _pictures(count: StepCount) -> str:
    train = [c for c in count.concepts if not c.regularization]
    if len({c.repeats for c in train}) == 1:
        return f"{_n(sum(c.pictures for c in train), 'picture')} × {_n(train[0].repeats, 'repeat')}"
    return " + ".join(f"{c.pictures}×{c.repeats}" for c in train) or "0 pictures"


def summary_line(count: StepCount | None) -> str:
    """One line: ``12 pictures × 5 repeats = 60 ÷ batch size 2 = 30 steps per epoch × 4 epochs = 120 steps``."""
    if count is None or count.training_samples == 0:
        return "Open a project with pictures to see how many steps this makes."
    text = f"{_pictures(count)} = {_epoch(count)} per epoch"
    if count.run.max_steps > 0:
        return f"{text}; stops after {_n(count.total_steps, 'step')}"
    return f"{text} × {_n(count.run.epochs, 'epoch')} = {_n(count.total_steps, 'step')}"


def summary_lines(count: StepCount) -> list[str]:
    """The step maths one line each: every concept, one epoch, the total (last)."""
    lines = []
    for c in count.concepts:
        if c.regularization:
            lines.append(f"{c.name} (regularization): {_n(c.pictures, 'picture')}, paired one to one with the training pictures")
            continue
        kept = f" ({c.held_out} more kept aside to check progress)" if c.held_out else ""
        lines.append(f"{c.name}: {_n(c.pictures, 'picture')} × {_n(c.repeats, 'repeat')} = {c.per_epoch}{kept}")
    lines.append(f"One epoch: {_epoch(count)}")
    if count.problem:
        lines.append(count.problem)
    lines.append(_total(count))
    return lines


# Samples seen per epoch and epochs, per purpose (community rules of thumb for kohya LoRAs).
_TARGETS: dict[str, tuple[int, int]] = {"style": (200, 10), "character": (150, 10), "quick_test": (40, 2)}


@dataclass(frozen=True, slots=True)
class AutoSteps:
    repeats: int
    epochs: int
    note: str


def automatic_steps(images: int, purpose: str, family: str | None = None) -> AutoSteps:
    """Repeats and epochs for ``images`` training pictures: about 150–200 samples per epoch.
    FLUX.1 (``family="flux"``): repeats 1 and the epochs the FLUX guides' step counts give."""
    per_epoch, epochs = _TARGETS.get(purpose, _TARGETS["character"])
    if images <= 0:
        return AutoSteps(1, epochs, "Add pictures first.")
    if family == "flux":
        epochs = flux_epochs(Purpose(purpose), images)
        return AutoSteps(1, epochs, f"{images} pictures → 1 repeat × {epochs} epochs (FLUX.1: about {images * epochs} steps)")
    repeats = max(1, min(100, round(per_epoch / images)))
    note = f"{images} pictures → {repeats} repeats × {epochs} epochs (about {images * repeats} pictures per epoch)"
    return AutoSteps(repeats, epochs, note)
