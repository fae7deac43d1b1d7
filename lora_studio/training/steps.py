"""Which pictures a run trains on, and how many optimizer steps it makes. Torch-free, Qt-free.

The trainer and the app count with these same functions, so the step numbers the Dataset and
Training tabs show are the ones training will do:

* ``split_validation`` picks the training pictures held out for the validation loss;
* ``build_sources`` turns the rest into one :class:`Source` per picture, with its shape bucket;
* ``epoch_entries`` lists one epoch: every training picture ``repeats`` times, then regularization
  pictures cycled until they match that count (kohya's balancing, which doubles the epoch);
* ``batch_count`` is the number of batches of an epoch: pictures of different shape buckets are
  never mixed in one batch, so each bucket ends with its own partly filled batch;
* ``steps_per_epoch`` and ``total_steps``: one step is one optimizer update of
  ``batch_size × grad_accumulation`` pictures; ``run.max_steps`` (when set) wins over the epochs.

:func:`count_steps` puts these together for a dataset and a config (one process; a multi-GPU run
shares the batches out, so each card makes fewer steps).
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from lora_studio.core.errors import DatasetError
from lora_studio.dataset.items import Concept, Dataset, Item
from lora_studio.training.buckets import Size, assign_bucket, make_buckets
from lora_studio.training.config import DatasetConfig, RunConfig, TrainConfig


@dataclass(frozen=True, slots=True)
class Source:
    """One image of the dataset with everything needed to load it."""

    index: int
    item: Item
    concept: str
    trigger: str
    is_reg: bool
    repeats: int
    size: Size  # after EXIF orientation and the stored crop
    bucket: Size


class _Counted(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def is_reg(self) -> bool: ...
    @property
    def repeats(self) -> int: ...
    @property
    def bucket(self) -> Size: ...


_SIZES: dict[tuple[str, int, int], Size] = {}


def oriented_size(path: Path) -> Size:
    """(width, height) of a picture after its EXIF orientation, from the header (remembered per file version)."""
    st = os.stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size)
    size = _SIZES.get(key)
    if size is None:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
        size = _SIZES[key] = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return size


def build_sources(
    dataset: Dataset,
    cfg: DatasetConfig,
    *,
    exclude: set[Path] | None = None,
    size_of: Callable[[Path], Size] = oriented_size,
) -> list[Source]:
    """One Source per image of every concept (training first, then regularization)."""
    buckets = make_buckets(cfg.resolution, cfg.bucket_min, cfg.bucket_max, cfg.bucket_step)
    sources: list[Source] = []
    concepts: list[Concept] = dataset.training_concepts() + dataset.regularization_concepts()
    for concept in concepts:
        for item in concept.items:
            if exclude and item.image in exclude:
                continue
            if item.crop is not None:
                size = (item.crop.width, item.crop.height)
            else:
                try:
                    size = size_of(item.image)
                except OSError as exc:
                    raise DatasetError(f"The image {item.image.name} cannot be read: {exc}") from exc
            bucket = assign_bucket(
                *size,
                resolution=cfg.resolution,
                enable=cfg.enable_buckets,
                buckets=buckets,
                no_upscale=cfg.bucket_no_upscale,
                step=cfg.bucket_step,
            )
            sources.append(
                Source(
                    index=len(sources),
                    item=item,
                    concept=concept.name,
                    trigger=concept.trigger,
                    is_reg=concept.is_regularization,
                    repeats=max(1, concept.repeats),
                    size=size,
                    bucket=bucket,
                )
            )
    return sources


def epoch_entries(sources: Sequence[_Counted]) -> list[int]:
    """Source indices of one epoch: each training image ``repeats`` times, then regularization images
    (each with its repeats, cycled) until their count equals the training count (kohya)."""
    train = [s.index for s in sources if not s.is_reg for _ in range(s.repeats)]
    reg_cycle = [s.index for s in sources if s.is_reg for _ in range(s.repeats)]
    reg: list[int] = []
    while reg_cycle and len(reg) < len(train):
        reg.extend(reg_cycle[: len(train) - len(reg)])
    return train + reg


def batch_count(sources: Sequence[_Counted], batch_size: int) -> int:
    """Batches of one epoch: each shape bucket is cut into batches of ``batch_size`` on its own."""
    per_bucket = Counter(sources[i].bucket for i in epoch_entries(sources))
    return sum(math.ceil(n / max(1, batch_size)) for n in per_bucket.values())


def steps_per_epoch(batches: int, grad_accumulation: int) -> int:
    """Optimizer steps of an epoch of ``batches`` batches (one step every ``grad_accumulation`` batches)."""
    return max(1, math.ceil(batches / max(1, grad_accumulation)))


def total_steps(run: RunConfig, per_epoch: int) -> int:
    """The run's steps: ``max_steps`` when set, else every epoch."""
    return run.max_steps if run.max_steps > 0 else run.epochs * per_epoch


def split_validation(dataset: Dataset, *, split: float, size: int, seed: int) -> list[Item]:
    """Training items held out for validation loss (never regularization images)."""
    items = [i for c in dataset.training_concepts() for i in c.items]
    n = size if size > 0 else int(round(len(items) * split))
    if n <= 0 or not items:
        return []
    n = min(n, max(0, len(items) - 1))
    return random.Random(f"lora-studio-val-{seed}").sample(items, n)


# -- the numbers the app shows -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConceptSteps:
    name: str
    pictures: int  # trained on (held-out and left-out pictures are not)
    repeats: int
    regularization: bool = False
    held_out: int = 0  # kept aside to measure the validation loss

    @property
    def per_epoch(self) -> int:
        return self.pictures * self.repeats


@dataclass(frozen=True, slots=True)
class StepCount:
    """How a run's steps come about, for showing. ``total_steps`` is what the trainer will do."""

    concepts: tuple[ConceptSteps, ...]
    training_samples: int  # training pictures × repeats in one epoch
    regularization_samples: int  # regularization pictures paired with them in one epoch
    batches: int  # batches of one epoch
    run: RunConfig
    problem: str = ""  # why the count may be off (a picture that can't be read), in plain words

    @property
    def samples_per_epoch(self) -> int:
        return self.training_samples + self.regularization_samples

    @property
    def uses_regularization(self) -> bool:
        return self.regularization_samples > 0

    @property
    def plain_batches(self) -> int:
        """Batches if all pictures had one shape; ``batches`` is larger when shape buckets add part-filled ones."""
        return math.ceil(self.samples_per_epoch / max(1, self.run.batch_size))

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.batches, self.run.grad_accumulation)

    @property
    def total_steps(self) -> int:
        return total_steps(self.run, self.steps_per_epoch)

    @property
    def epochs(self) -> int:
        """Epochs the run goes through (started ones count) — ``run.epochs`` unless max steps decide."""
        return math.ceil(self.total_steps / self.steps_per_epoch)


def count_steps(dataset: Dataset, config: TrainConfig) -> StepCount:
    """The step count of training ``dataset`` with ``config``, as the trainer counts it.

    Picture headers are read only where shapes change the count (batch size above 1 with buckets
    on). A picture that cannot be read is counted as square and named in ``problem``.
    """
    v, d, run = config.validation, config.dataset, config.run
    held_out = split_validation(dataset, split=v.split, size=v.size, seed=v.seed)
    exclude = {i.image for i in held_out}
    unreadable: list[str] = []

    def size_of(path: Path) -> Size:
        if run.batch_size <= 1 or not d.enable_buckets:
            return (d.resolution, d.resolution)  # one bucket or one picture a batch: shapes don't matter
        try:
            return oriented_size(path)
        except (OSError, ValueError):
            unreadable.append(path.name)
            return (d.resolution, d.resolution)

    sources = build_sources(dataset, d, exclude=exclude, size_of=size_of)
    entries = epoch_entries(sources)
    training = sum(1 for i in entries if not sources[i].is_reg)
    per_concept = Counter(s.concept for s in sources)
    held = Counter(c.name for c in dataset.training_concepts() for i in c.items if i.image in exclude)
    concepts = tuple(
        ConceptSteps(c.name, per_concept[c.name], max(1, c.repeats), c.is_regularization, held[c.name])
        for c in dataset.concepts
    )
    problem = ""
    if unreadable:
        problem = f"{len(unreadable)} picture(s) can't be read ({', '.join(unreadable[:3])}); training will stop on them."
    return StepCount(
        concepts=concepts,
        training_samples=training,
        regularization_samples=len(entries) - training,
        batches=batch_count(sources, run.batch_size),
        run=run,
        problem=problem,
    )
