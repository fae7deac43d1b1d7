"""Plain-data events that long jobs report. Frozen dataclasses only: safe to pass between threads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lora_studio.core.issues import Issue


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True, slots=True)
class StatusChanged(Event):
    text: str


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """Generic progress of a job that is not a training step (loading, caching, generating)."""

    done: int
    total: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class StepFinished(Event):
    step: int
    total_steps: int
    epoch: int
    loss: float
    avg_loss: float
    lr: float
    it_per_s: float
    eta_s: float
    memory_mb: float = 0.0
    lrs: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class EpochFinished(Event):
    epoch: int
    step: int
    avg_loss: float


@dataclass(frozen=True, slots=True)
class ValidationLoss(Event):
    epoch: int
    step: int
    loss: float


@dataclass(frozen=True, slots=True)
class SampleReady(Event):
    path: str
    step: int
    epoch: int
    prompt: str = ""
    prompt_index: int = 0


@dataclass(frozen=True, slots=True)
class CheckpointSaved(Event):
    path: str
    step: int
    epoch: int
    kind: str = "lora"  # "lora" (a usable LoRA file) or "state" (resumable training state)


@dataclass(frozen=True, slots=True)
class ImageReady(Event):
    """A generated image was written."""

    path: str
    index: int
    seed: int
    infotext: str = ""


@dataclass(frozen=True, slots=True)
class PreviewReady(Event):
    """A low-cost preview during generation (PNG bytes, small)."""

    step: int
    total: int
    png: bytes = field(repr=False, default=b"")


@dataclass(frozen=True, slots=True)
class LogLine(Event):
    level: str
    text: str


@dataclass(frozen=True, slots=True)
class HistoryLoaded(Event):
    """What a resumed run did before it stopped, so the window shows one run: the loss and
    learning-rate curves from step 1, the saved LoRA files and the sample pictures made so far."""

    losses: tuple[float, ...]
    validation: tuple[tuple[int, float], ...] = ()
    epoch_steps: int = 0  # steps per epoch, 0 when unknown
    lrs: tuple[float, ...] = ()  # learning rate per step (NaN where the state did not keep it)
    saves: tuple[CheckpointSaved, ...] = ()  # the run's LoRA files saved before the stop
    samples: tuple[SampleReady, ...] = ()  # its sample pictures made before the stop


@dataclass(frozen=True, slots=True)
class OutputRenamed(Event):
    """A new run's files take a numbered name because LoRA files of the wanted one exist already."""

    wanted: str
    name: str


@dataclass(frozen=True, slots=True)
class IssuesFound(Event):
    """A batch of problems found by a check (sent as they come)."""

    issues: tuple[Issue, ...]


@dataclass(frozen=True, slots=True)
class CaptionReady(Event):
    """One picture was captioned (not yet saved): lets the UI show captions as they come."""

    image: str
    caption: str
    index: int
    total: int


@dataclass(frozen=True, slots=True)
class DownloadProgress(Event):
    """Bytes and files of one model's download so far (``captioning.download``)."""

    model: str
    file: str  # the file being downloaded ("" once all are done)
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


Reporter = Callable[[Event], None]


def null_reporter(_event: Event) -> None:
    """A reporter that drops every event."""
