"""Start or resume a training run: the one entry point the app's run queue and ``lora-studio train`` share.

Qt-free and torch-free at import time (the engine is imported when a run starts). A
:class:`RunRequest` is plain data copied from the form, so a worker never reads widgets. The app's
queue runs :func:`process_job` in a child process (see :mod:`lora_studio.training.process`), so this
module must stay importable there without Qt, and everything it reports must be picklable.

What "resume" means (the same for the app's Resume button and ``lora-studio train --resume``):

* The run continues from a saved training state: the one given, or the newest one of the run's
  output folder and name (``"latest"``).
* The settings saved in that state win. Resuming with other settings (another rank, learning rate,
  data…) would not continue the run, it would be a different run that happens to start from the same
  weights, so the settings you pass are not used for that.
* Except that a run may be made longer: more epochs (when the run is not limited by max steps) or a
  higher max steps are taken over from the settings you pass. See :func:`resumed_config`.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core.control import RunControl
from lora_studio.core.errors import TrainingError
from lora_studio.core.events import (
    CheckpointSaved,
    HistoryLoaded,
    OutputRenamed,
    Reporter,
    SampleReady,
    StatusChanged,
)
from lora_studio.training.config import TrainConfig, config_from_dict, update
from lora_studio.training.process import Job
from lora_studio.training.run_files import (
    TrainResult,
    epoch_of,
    free_output_name,
    intermediate_loras,
    latest_state,
    sample_files,
    step_of,
)

LATEST = "latest"  # resume from the newest saved state of the run's output


@dataclass(frozen=True, slots=True)
class RunRequest:
    config: TrainConfig
    name: str = "Training"
    resume: bool = False  # continue from the newest saved state of this output
    resume_from: str = ""  # or from this state file
    notes: tuple[str, ...] = field(default=())

    @property
    def resume_point(self) -> str | None:
        """What :func:`start_run` takes as ``resume``: a state file, ``"latest"`` or None (a new run)."""
        if self.resume_from:
            return self.resume_from
        return LATEST if self.resume else None


def find_resume_state(config: TrainConfig, resume: str | Path) -> Path:
    """The state file to resume from: ``resume`` itself, or the run's newest one for ``"latest"``.

    Raises :class:`TrainingError` in plain words when there is none.
    """
    if str(resume) != LATEST:
        return Path(resume)
    found = latest_state(config.run.output_dir, config.run.output_name)
    if found is None:
        raise TrainingError(
            f"There is no saved training state for “{config.run.output_name}” yet.",
            hint="Start a new run instead; stopping a run saves a state you can resume later.",
        )
    return found


def new_run_config(config: TrainConfig) -> TrainConfig:
    """A new (not resumed) run's settings with an output name no earlier LoRA file uses: when
    ``zorb.safetensors`` exists, the run is saved as ``zorb-2`` instead of overwriting it."""
    name = free_output_name(config.run.output_dir, config.run.output_name)
    return config if name == config.run.output_name else update(config, **{"run.output_name": name})


def resumed_config(saved: TrainConfig, wanted: TrainConfig) -> TrainConfig:
    """The settings a resumed run uses: ``saved`` (from the state), made longer where ``wanted`` asks.

    More epochs are taken over when the saved run is not limited by max steps; a higher max steps
    is taken over when it is. Nothing else of ``wanted`` is used.
    """
    changes: dict[str, Any] = {}
    if wanted.run.epochs > saved.run.epochs and saved.run.max_steps == 0:
        changes["run.epochs"] = wanted.run.epochs
    if saved.run.max_steps and wanted.run.max_steps > saved.run.max_steps:
        changes["run.max_steps"] = wanted.run.max_steps
    return update(saved, **changes) if changes else saved


def resume_history(
    config: TrainConfig,
    *,
    step: int,
    losses: list[float],
    lrs: list[float],
    validation: list[tuple[int, float]],
    epoch_steps: int = 0,
) -> HistoryLoaded:
    """What the run did up to ``step`` (where its state was saved): the curves kept in the state,
    and its LoRA files and sample pictures found in the output folder by the run's name."""
    out, name = config.run.output_dir, config.run.output_name
    saves = tuple(
        CheckpointSaved(path=str(p), step=step_of(p), epoch=epoch_of(p), kind="lora")
        for p in intermediate_loras(Path(out), name)
        if step_of(p) <= step
    )
    prompts = config.sample.prompts
    samples = tuple(
        SampleReady(
            path=str(f.path),
            step=f.step,
            epoch=f.epoch,
            prompt=prompts[f.prompt_index].prompt if f.prompt_index < len(prompts) else "",
            prompt_index=f.prompt_index,
        )
        for f in sample_files(out, name)
        if f.step <= step
    )
    known_lrs = tuple(lrs) if len(lrs) == len(losses) else (float("nan"),) * len(losses)
    return HistoryLoaded(
        tuple(losses), tuple(validation), epoch_steps=epoch_steps, lrs=known_lrs, saves=saves, samples=samples
    )


def start_run(
    config: TrainConfig, reporter: Reporter, control: RunControl, *, resume: str | Path | None = None
) -> TrainResult:
    """Train with ``config``, or resume (``resume``: a state file or ``"latest"``) as the module says.

    Returns the engine's ``TrainResult``.
    """
    from lora_studio.training import checkpoints, trainer

    state: checkpoints.TrainState | None = None
    if resume is not None and str(resume) != "":
        resume_from = find_resume_state(config, resume)
        reporter(StatusChanged(f"Reading the saved state {resume_from.name}…"))
        state = checkpoints.load_state(resume_from)
        saved, _unknown = config_from_dict(tomllib.loads(state.config_toml))
        config = resumed_config(saved, config)
        reporter(
            resume_history(
                config,
                step=state.step,
                losses=state.losses,
                lrs=state.lrs,
                validation=state.validation,
                epoch_steps=state.epoch_steps,
            )
        )
    else:  # a new run never overwrites the LoRA files of an earlier one; a resumed run keeps its name
        wanted = config.run.output_name
        config = new_run_config(config)
        if config.run.output_name != wanted:
            reporter(OutputRenamed(wanted, config.run.output_name))
            reporter(
                StatusChanged(
                    f"{wanted}.safetensors is from an earlier run and is kept; "
                    f"this run is saved as {config.run.output_name}."
                )
            )
    control.raise_if_cancelled()
    return trainer.run_training(config, reporter, control, resume_from=state)  # read once, above


def run_request(request: RunRequest, reporter: Reporter, control: RunControl) -> TrainResult:
    """Train (or resume) as ``request`` says (in a child process the result comes back as a
    :class:`~lora_studio.training.process.TrainSummary`)."""
    return start_run(request.config, reporter, control, resume=request.resume_point)


def process_job(request: RunRequest) -> Job:
    """:func:`run_request` as a picklable job for :class:`lora_studio.training.process.TrainingProcess`."""
    return functools.partial(run_request, request)
