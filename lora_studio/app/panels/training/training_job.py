"""The function a training worker runs: Qt-free; the engine (torch) is imported only when it runs.

A :class:`RunRequest` is plain data copied from the form, so the worker never reads widgets. The
queue runs :func:`process_job` in a child process (see :mod:`lora_studio.training.process`), so this
module must stay importable there without Qt, and everything it reports must be picklable.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core.control import RunControl
from lora_studio.core.errors import TrainingError
from lora_studio.core.events import Event, Reporter, StatusChanged
from lora_studio.training.config import TrainConfig, config_from_dict
from lora_studio.training.process import Job

STATE_DIR = "state"  # mirrors lora_studio.training.checkpoints (which imports torch)
_STATE_RE = re.compile(r"-state-s(\d+)\.pt$")


@dataclass(frozen=True, slots=True)
class HistoryLoaded(Event):
    """A resumed run's earlier losses, so the plot shows the whole curve."""

    losses: tuple[float, ...]
    validation: tuple[tuple[int, float], ...] = ()
    epoch_steps: int = 0  # steps per epoch, 0 when unknown


@dataclass(frozen=True, slots=True)
class RunRequest:
    config: TrainConfig
    name: str = "Training"
    resume: bool = False  # continue from the newest saved state of this output
    resume_from: str = ""  # or from this state file
    notes: tuple[str, ...] = field(default=())


def find_latest_state(output_dir: str | Path, output_name: str) -> Path | None:
    """The newest ``state/<name>-state-sNNNNNN.pt`` of a run, found without importing torch."""
    folder = Path(output_dir) / STATE_DIR
    if not folder.is_dir():
        return None
    pattern = re.compile(re.escape(output_name) + r"-state-s\d+\.pt$")
    found = [p for p in folder.glob(f"{output_name}-state-s*.pt") if pattern.match(p.name)]
    if not found:
        return None
    return max(found, key=lambda p: int(_STATE_RE.search(p.name).group(1)))  # type: ignore[union-attr]


def process_job(request: RunRequest) -> Job:
    """:func:`run_request` as a picklable job for :class:`lora_studio.training.process.TrainingProcess`."""
    return functools.partial(run_request, request)


def run_request(request: RunRequest, reporter: Reporter, control: RunControl) -> Any:
    """Train (or resume) as ``request`` says. Returns the engine's ``TrainResult`` (in a child
    process: a :class:`~lora_studio.training.process.TrainSummary` of it)."""
    from lora_studio.training import checkpoints, trainer

    config = request.config
    resume_from: Path | None = None
    if request.resume or request.resume_from:
        resume_from = Path(request.resume_from) if request.resume_from else None
        if resume_from is None:
            resume_from = checkpoints.latest_state(config.run.output_dir, config.run.output_name)
        if resume_from is None:
            raise TrainingError(
                f"There is no saved training state for “{config.run.output_name}” yet.",
                hint="Start a new run instead; stopping a run saves a state you can resume later.",
            )
        reporter(StatusChanged(f"Reading the saved state {resume_from.name}…"))
        state = checkpoints.load_state(resume_from)
        saved, _unknown = config_from_dict(tomllib.loads(state.config_toml))
        # Resume with the settings the run started with (anything else would not continue it exactly),
        # but let a longer run continue: more epochs or steps from the form are taken over.
        config = _extend(saved, config)
        reporter(HistoryLoaded(tuple(state.losses), tuple(state.validation)))
    control.raise_if_cancelled()
    return trainer.run_training(config, reporter, control, resume_from=resume_from)


def _extend(saved: TrainConfig, wanted: TrainConfig) -> TrainConfig:
    from lora_studio.training.config import update

    changes: dict[str, Any] = {}
    if wanted.run.epochs > saved.run.epochs and saved.run.max_steps == 0:
        changes["run.epochs"] = wanted.run.epochs
    if saved.run.max_steps and wanted.run.max_steps > saved.run.max_steps:
        changes["run.max_steps"] = wanted.run.max_steps
    return update(saved, **changes) if changes else saved
