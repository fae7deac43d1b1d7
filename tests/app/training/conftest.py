"""Fixtures for the Training panel: a tiny project with generated pictures, a panel set up for
64 px CPU training, and a scripted fake engine for UI-only behaviour."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lora_studio.core.control import Command, RunControl
from lora_studio.core.errors import TrainingError
from lora_studio.core.events import (
    CheckpointSaved,
    EpochFinished,
    SampleReady,
    StatusChanged,
    StepFinished,
    ValidationLoss,
)
from lora_studio.training.config import LatentCache, Precision, SamplePrompt, TrainConfig, update
from lora_studio.training.run import RunRequest


def make_pictures(folder: Path, n: int, size: int = 64) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0:size]
        base = rng.integers(0, 255, 3)
        arr = np.stack([(base[c] + xx * (c + 1) + yy) % 255 for c in range(3)], -1).astype(np.uint8)
        arr[size // 4 : size // 2, size // 4 : size // 2] = 255 - base
        path = folder / f"pic{i}.png"
        Image.fromarray(arr).save(path)
        (folder / f"pic{i}.txt").write_text(f"sks, photo, tag{i}", encoding="utf-8")
        out.append(path)
    return out


@pytest.fixture
def tiny_project(tmp_path: Path, context):
    """A project with one concept of 3 pictures, opened in the app context."""
    from lora_studio.dataset import project as P

    root = tmp_path / "Tiny project"
    project = P.create_project(root, "Tiny project")
    P.add_concept(project, "sks", repeats=1)
    P.add_images(project, "sks", make_pictures(tmp_path / "source", 3))
    context.open_project(root)
    return context.project


def tiny_settings(config: TrainConfig, model_dir: Path, **changes) -> TrainConfig:
    values = {
        "model.base_model": str(model_dir),
        "model.family": None,
        "dataset.resolution": 64,
        "dataset.bucket_min": 32,
        "dataset.bucket_max": 128,
        "dataset.bucket_step": 16,
        "dataset.latent_cache": LatentCache.MEMORY,
        "dataset.flip": False,
        "network.rank": 4,
        "network.alpha": 2.0,
        "network.train_text_encoder": False,
        "optimizer.optimizer": "adamw",
        "optimizer.learning_rate": 1e-3,
        "run.precision": Precision.FP32,
        "run.save_precision": Precision.FP32,
        "run.gradient_checkpointing": False,
        "run.epochs": 1,
        "run.batch_size": 1,
        "run.save_every_n_epochs": 0,
        "run.state_every_minutes": 0.0,
        "run.device": "cpu",
        "sample.prompts": (),
        "sample.every_n_epochs": 0,
    }
    values.update(changes)
    return update(config, **values)


@pytest.fixture
def panel(qtbot, context, no_dialogs):
    from lora_studio.app.panels.training.training_panel import TrainingPanel

    widget = TrainingPanel(context)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    yield widget
    widget.queue.stop_current()
    context.jobs.shutdown(20000)


def scripted_job(
    steps: int = 40,
    *,
    steps_per_epoch: int = 10,
    delay: float = 0.0,
    fail: Exception | None = None,
    sample_dir: Path | None = None,
    seen: list | None = None,
) -> Callable[[RunRequest], Callable]:
    """A fake engine: emits the events a real run emits, honours pause/cancel/commands."""

    def factory(request: RunRequest):
        def job(reporter, control: RunControl):
            reporter(StatusChanged("Training"))
            for step in range(1, steps + 1):
                for command in control.checkpoint():
                    if seen is not None:
                        seen.append(command)
                    if command == Command.SAVE_NOW:
                        reporter(CheckpointSaved(path="manual.safetensors", step=step - 1, epoch=0, kind="lora"))
                if fail is not None and step == steps // 2:
                    raise fail
                loss = 0.2 + 0.1 * np.exp(-step / 20) + 0.01 * np.sin(step)
                epoch = (step - 1) // steps_per_epoch + 1
                reporter(StepFinished(step, steps, epoch, float(loss), float(loss), 1e-4, 10.0, (steps - step) / 10, 512.0))
                if step % steps_per_epoch == 0:
                    reporter(EpochFinished(epoch, step, float(loss)))
                    reporter(ValidationLoss(epoch, step, float(loss) + 0.02))
                    reporter(CheckpointSaved(path=f"e{epoch}.safetensors", step=step, epoch=epoch, kind="lora"))
                    if sample_dir is not None:
                        path = sample_dir / f"s{step}.png"
                        Image.new("RGB", (64, 64), (step * 5 % 255, 90, 160)).save(path)
                        reporter(SampleReady(str(path), step, epoch, "a test prompt", 0))
                if delay:
                    time.sleep(delay)
            return None

        return job

    return factory


def failing_error() -> Exception:
    return TrainingError(
        "Training ran out of GPU memory.",
        hint="Lower one of these and start again: batch size 4 -> 2; turn on gradient checkpointing.",
    )


SAMPLE_PROMPT = (SamplePrompt(prompt="sks photo", steps=2, cfg=5.0),)
