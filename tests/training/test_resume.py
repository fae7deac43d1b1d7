"""Cancel, pause, save-now, resume equality and atomic saves."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lora_studio.core.control import Command, RunControl
from lora_studio.core.errors import Cancelled, TrainingError
from lora_studio.core.events import CheckpointSaved, StepFinished
from lora_studio.training import checkpoints as C
from lora_studio.training import run_files
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config

_OPTS = {
    "run.epochs": 3,
    "run.batch_size": 1,
    "network.dropout": 0.1,  # uses the global RNG: must be restored exactly
    "dataset.shuffle_tags": True,
    "dataset.flip": True,
    "dataset.tag_dropout": 0.2,
    "scheduler.scheduler": "cosine",
    "scheduler.warmup_steps": 2,
}


def _cfg(model: Path, out: Path, **kw):
    from lora_studio.training.config import SchedulerKind

    opts = dict(_OPTS, **kw)
    opts["scheduler.scheduler"] = SchedulerKind(opts["scheduler.scheduler"])
    return tiny_config(model, out, **opts)


def _cancel_after(control: RunControl, n: int, seen: list):
    def reporter(e):
        seen.append(e)
        if isinstance(e, StepFinished) and e.step == n:
            control.cancel()

    return reporter


def test_cancel_stops_within_a_step_and_resume_equals_uninterrupted(
    tmp_path: Path, tiny_sd1_dir: Path
) -> None:
    ds = make_dataset(tmp_path / "ds", 3)
    full = run_training(_cfg(tiny_sd1_dir, tmp_path / "a"), dataset=ds)
    assert len(full.losses) == 9

    cfg_b = _cfg(tiny_sd1_dir, tmp_path / "b")
    control, seen = RunControl(), []
    with pytest.raises(Cancelled):
        run_training(cfg_b, _cancel_after(control, 4, seen), control, dataset=ds)
    steps = [e.step for e in seen if isinstance(e, StepFinished)]
    assert steps == [1, 2, 3, 4]  # stopped before step 5
    state_path = run_files.latest_state(cfg_b.run.output_dir, "t")
    assert state_path is not None and state_path.name == "t-state-s000004.pt"
    assert any(isinstance(e, CheckpointSaved) and e.kind == "state" for e in seen)
    assert C.load_state(state_path).reason == "cancel"

    resumed = run_training(cfg_b, dataset=ds, resume_from=state_path)
    assert resumed.losses == full.losses  # the same sequence, bit for bit
    a, b = load_file(str(full.final_lora)), load_file(str(resumed.final_lora))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_pause_and_commands(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.training.config import SamplePrompt

    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _cfg(tiny_sd1_dir, tmp_path, **{"run.epochs": 2})
    from lora_studio.training.config import update

    cfg = update(cfg, **{"sample.prompts": (SamplePrompt(prompt="sks", steps=2, width=64, height=64),)})
    control, events = RunControl(), []

    def reporter(e):
        events.append(e)
        if isinstance(e, StepFinished) and e.step == 1:
            control.pause()
            control.send(Command.SAMPLE_NOW)
            control.send(Command.SAVE_NOW)
            threading.Timer(0.3, control.resume).start()

    result = run_training(cfg, reporter, control, dataset=ds)
    kinds = [type(e).__name__ for e in events]
    i = kinds.index("SampleReady")
    assert kinds[i - 1 :].count("StepFinished") == 3  # sample after step 1, before step 2
    assert result.samples and result.samples[0].exists()
    assert any(isinstance(e, CheckpointSaved) and e.kind == "lora" and e.step == 1 for e in events)


def test_failed_save_leaves_previous_files_intact(tmp_path: Path, tiny_sd1_dir: Path, monkeypatch) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _cfg(tiny_sd1_dir, tmp_path, **{"run.epochs": 1})
    first = run_training(cfg, dataset=ds)
    lora_bytes = first.final_lora.read_bytes()
    state_bytes = first.state_path.read_bytes()

    import safetensors.torch

    from lora_studio.formats import safetensors_meta

    def exploding_writer(*a, **k):
        raise OSError("disk unplugged")

    real_save = torch.save

    def half_save(obj, f, *a, **k):
        Path(f).write_bytes(b"partial")
        raise OSError("killed during save")

    monkeypatch.setattr(safetensors_meta, "write_safetensors", lambda path, *a, **k: _partial(path))
    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(TrainingError, match="failed: killed during write.*The last saved state is"):
        run_training(cfg, dataset=ds)  # (the rescue state in the data folder can't be written either)
    monkeypatch.setattr(torch, "save", real_save)
    assert first.final_lora.read_bytes() == lora_bytes
    assert first.state_path.read_bytes() == state_bytes
    leftovers = [p.name for p in Path(cfg.run.output_dir).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    del safetensors, exploding_writer


def _partial(path):
    from lora_studio.core.fileio import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(b"half a file")
        raise OSError("killed during write")


def test_periodic_state_and_keep_last_states(tmp_path: Path, tiny_sd1_dir: Path, monkeypatch) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _cfg(tiny_sd1_dir, tmp_path, **{"run.state_every_minutes": 1e-6, "run.keep_last_states": 2})
    run_training(cfg, dataset=ds)
    states = run_files.state_files(Path(cfg.run.output_dir), "t")
    assert [p.name for p in states] == ["t-state-s000005.pt", "t-state-s000006.pt"]


def test_resume_with_other_network_settings_is_refused(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.core.errors import TrainingError
    from lora_studio.training.config import update

    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _cfg(tiny_sd1_dir, tmp_path, **{"run.epochs": 1})
    first = run_training(cfg, dataset=ds)
    with pytest.raises(TrainingError):
        run_training(update(cfg, **{"network.rank": 8}), dataset=ds, resume_from=first.state_path)
    # more steps with the same network is fine: the schedule and counters continue
    more = run_training(update(cfg, **{"run.epochs": 2}), dataset=ds, resume_from=first.state_path)
    assert more.steps == 4 and more.losses[:2] == first.losses
