"""One meaning of "resume", driven from the app's path (RunRequest -> run_request) and from the CLI.

The engine itself is replaced by a recorder here: what is checked is which settings and which state
file reach ``trainer.run_training``. That resume then continues a run bit for bit is
tests/training/test_resume.py's job (on a real tiny model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lora_studio.cli.main import main
from lora_studio.core.control import RunControl
from lora_studio.core.errors import TrainingError
from lora_studio.core.events import CheckpointSaved, Event, HistoryLoaded, SampleReady
from lora_studio.training import checkpoints, trainer
from lora_studio.training.config import SamplePrompt, TrainConfig, config_to_toml, save_config, update
from lora_studio.training.run import LATEST, RunRequest, resumed_config, run_request, start_run
from lora_studio.training.run_files import (
    SAMPLES_DIR,
    STATE_DIR,
    TrainResult,
    lora_filename,
    sample_filename,
    state_filename,
)


@dataclass
class _FakeState:
    config_toml: str
    step: int = 20
    epoch_steps: int = 10
    losses: list[float] = field(default_factory=lambda: [0.5, 0.4])
    lrs: list[float] = field(default_factory=lambda: [1e-4, 9e-5])
    validation: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class _Recorded:
    config: TrainConfig | None = None
    resume_from: _FakeState | None = None
    read: list[Path] = field(default_factory=list)


def _saved_config(tmp_path: Path, **changes: Any) -> TrainConfig:
    base = {
        "model.base_model": str(tmp_path / "model.safetensors"),
        "dataset.path": str(tmp_path / "pictures"),
        "run.output_dir": str(tmp_path / "out"),
        "run.output_name": "t",
        "run.epochs": 4,
        "optimizer.learning_rate": 1e-4,
        "network.rank": 16,
    }
    base.update(changes)
    return update(TrainConfig(), **base)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _Recorded:
    """A saved state on disk (steps 10 and 20) and a recorder in place of the trainer."""
    saved = _saved_config(tmp_path)
    states = tmp_path / "out" / STATE_DIR
    states.mkdir(parents=True)
    for step in (10, 20):
        (states / state_filename("t", step)).write_bytes(b"state")
    recorded = _Recorded()

    def load_state(path: Path) -> _FakeState:
        recorded.read.append(Path(path))
        return _FakeState(config_to_toml(saved))

    def run_training(
        config: TrainConfig, reporter: Any, control: Any, resume_from: _FakeState | None = None
    ) -> TrainResult:
        recorded.config, recorded.resume_from = config, resume_from
        return TrainResult(final_lora=Path(config.run.output_dir) / "t.safetensors", steps=3)

    monkeypatch.setattr(checkpoints, "load_state", load_state)
    monkeypatch.setattr(trainer, "run_training", run_training)
    return recorded


def test_resumed_config_keeps_the_saved_settings_and_only_grows_the_run(tmp_path: Path) -> None:
    saved = _saved_config(tmp_path)
    wanted = update(saved, **{"optimizer.learning_rate": 5e-3, "network.rank": 4, "run.epochs": 6})
    got = resumed_config(saved, wanted)
    assert got.optimizer.learning_rate == 1e-4 and got.network.rank == 16  # the run's own settings
    assert got.run.epochs == 6  # a longer run is allowed
    assert resumed_config(saved, update(saved, **{"run.epochs": 2})).run.epochs == 4  # never shorter
    by_steps = update(saved, **{"run.max_steps": 30})
    assert resumed_config(by_steps, update(by_steps, **{"run.max_steps": 50})).run.max_steps == 50
    # A run limited by max steps is not made longer by more epochs (the limit still stops it).
    assert resumed_config(by_steps, update(by_steps, **{"run.epochs": 9})).run.epochs == 4


def test_app_resume_uses_the_newest_state_and_its_settings(tmp_path: Path, engine: _Recorded) -> None:
    wanted = _saved_config(tmp_path, **{"optimizer.learning_rate": 5e-3, "run.epochs": 8})
    events: list[Event] = []
    assert run_request(RunRequest(wanted, resume=True), events.append, RunControl()).steps == 3
    # the newest state is read once, and the trainer gets what was read (not the file to read again)
    assert [p.name for p in engine.read] == [state_filename("t", 20)]
    assert isinstance(engine.resume_from, _FakeState)
    assert engine.config is not None
    assert engine.config.optimizer.learning_rate == 1e-4 and engine.config.run.epochs == 8
    assert any(isinstance(e, HistoryLoaded) and e.losses == (0.5, 0.4) for e in events)


def test_cli_resume_means_the_same_as_the_app(tmp_path: Path, engine: _Recorded) -> None:
    wanted = _saved_config(tmp_path, **{"optimizer.learning_rate": 5e-3, "run.epochs": 8})
    start_run(wanted, lambda _e: None, RunControl(), resume=LATEST)
    from_app = engine.config
    save_config(wanted, tmp_path / "train.toml")
    assert main(["train", str(tmp_path / "train.toml"), "--resume", "latest", "--quiet"]) == 0
    assert engine.config == from_app  # the same settings reach the trainer
    assert [p.name for p in engine.read] == [state_filename("t", 20)] * 2
    assert isinstance(engine.resume_from, _FakeState)
    state = tmp_path / "out" / STATE_DIR / state_filename("t", 10)
    assert main(["train", str(tmp_path / "train.toml"), "--resume", str(state), "--quiet"]) == 0
    assert engine.read[-1] == state and len(engine.read) == 3


def test_resume_without_a_state_says_so(tmp_path: Path, engine: _Recorded) -> None:
    other = _saved_config(tmp_path, **{"run.output_name": "never-trained"})
    with pytest.raises(TrainingError, match="no saved training state"):
        run_request(RunRequest(other, resume=True), lambda _e: None, RunControl())
    assert engine.config is None
    save_config(other, tmp_path / "other.toml")
    assert main(["train", str(tmp_path / "other.toml"), "--resume", "latest"]) == 2


def test_a_new_run_never_overwrites_an_earlier_lora(tmp_path: Path, engine: _Recorded, capsys) -> None:
    from lora_studio.core.events import OutputRenamed, StatusChanged
    from lora_studio.training.run_files import free_output_name, lora_filename

    out = tmp_path / "out"
    config = _saved_config(tmp_path)
    # nothing finished yet under "t" (only resume states): the name is used as it is
    assert free_output_name(out, "t") == "t"
    (out / "t.safetensors").write_bytes(b"the first run's LoRA")
    events: list[Event] = []
    run_request(RunRequest(config), events.append, RunControl())
    assert engine.config is not None and engine.config.run.output_name == "t-2"
    assert OutputRenamed("t", "t-2") in events
    assert any(isinstance(e, StatusChanged) and "saved as t-2" in e.text for e in events)
    assert (out / "t.safetensors").read_bytes() == b"the first run's LoRA"
    # an epoch file of t-2 counts as a finished LoRA too: the next run is t-3
    (out / lora_filename("t-2", epoch=1, step=10)).write_bytes(b"epoch 1")
    run_request(RunRequest(config), lambda _e: None, RunControl())
    assert engine.config.run.output_name == "t-3"
    # a resumed run keeps its name (it continues "t", whose states are there)
    run_request(RunRequest(config, resume=True), lambda _e: None, RunControl())
    assert engine.config.run.output_name == "t"
    # the CLI does the same and says so
    save_config(config, tmp_path / "train.toml")
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 0
    assert engine.config.run.output_name == "t-3"
    assert "saved as t-3" in capsys.readouterr().err


def test_resume_reports_the_runs_earlier_curves_files_and_samples(
    tmp_path: Path, engine: _Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed run is one run: the window gets its learning rates, the LoRA files saved before the
    stop (found in the output folder by the run's name) and the sample pictures made so far."""
    out = tmp_path / "out"
    for epoch, step in ((1, 10), (2, 20), (3, 30)):  # step 30 is past the state (step 20): not this run's past
        (out / lora_filename("t", epoch=epoch, step=step)).write_bytes(b"lora")
    (out / lora_filename("t-2", epoch=1, step=10)).write_bytes(b"another run")
    samples = out / SAMPLES_DIR
    samples.mkdir()
    for step, epoch in ((10, 1), (20, 2)):
        for i in (0, 1):
            (samples / sample_filename("t", step=step, epoch=epoch, prompt_index=i)).write_bytes(b"png")
    (samples / sample_filename("t-2", step=10, epoch=1, prompt_index=0)).write_bytes(b"png")
    prompts = (SamplePrompt(prompt="a red cube"), SamplePrompt(prompt="a blue ball"))
    wanted = _saved_config(tmp_path, **{"sample.prompts": prompts})
    # the saved settings win, so the prompt texts come from the state's config: save them there
    saved_toml = config_to_toml(wanted)
    monkeypatch.setattr(checkpoints, "load_state", lambda path: _FakeState(saved_toml))
    events: list[Event] = []
    start_run(wanted, events.append, RunControl(), resume=LATEST)
    (history,) = [e for e in events if isinstance(e, HistoryLoaded)]
    assert history.losses == (0.5, 0.4) and history.lrs == (1e-4, 9e-5) and history.epoch_steps == 10
    assert history.saves == (
        CheckpointSaved(str(out / lora_filename("t", epoch=1, step=10)), 10, 1, "lora"),
        CheckpointSaved(str(out / lora_filename("t", epoch=2, step=20)), 20, 2, "lora"),
    )
    assert [(s.step, s.epoch, s.prompt_index, s.prompt) for s in history.samples] == [
        (10, 1, 0, "a red cube"), (10, 1, 1, "a blue ball"), (20, 2, 0, "a red cube"), (20, 2, 1, "a blue ball"),
    ]
    assert all(isinstance(s, SampleReady) and Path(s.path).is_file() for s in history.samples)


def test_a_state_without_learning_rates_resumes_with_them_unknown(
    tmp_path: Path, engine: _Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = config_to_toml(_saved_config(tmp_path))
    monkeypatch.setattr(checkpoints, "load_state", lambda path: _FakeState(toml, lrs=[]))
    events: list[Event] = []
    start_run(_saved_config(tmp_path), events.append, RunControl(), resume=LATEST)
    (history,) = [e for e in events if isinstance(e, HistoryLoaded)]
    assert len(history.lrs) == 2 and all(math.isnan(x) for x in history.lrs)
    assert history.saves == () and history.samples == ()
