"""Validation loss, samples, SDXL buckets, out-of-memory and config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from lora_studio.core.errors import ConfigError, TrainingError
from lora_studio.core.events import SampleReady, ValidationLoss
from lora_studio.training.config import SamplePrompt, update
from lora_studio.training.session import TrainingSession
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config


def test_validation_loss_is_fixed_and_reported(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 4)
    opts = {"run.epochs": 2, "validation.size": 1, "validation.seed": 3}
    runs = []
    for name in ("a", "b"):
        events = []
        result = run_training(tiny_config(tiny_sd1_dir, tmp_path / name, **opts), events.append, dataset=ds)
        vals = [e for e in events if isinstance(e, ValidationLoss)]
        assert [v.epoch for v in vals] == [1, 2]
        assert result.steps == 4  # 3 training images (one held out), batch 2 -> 2 steps per epoch
        runs.append([v.loss for v in vals])
    assert runs[0] == runs[1]  # same held-out image, noise and timesteps


def test_samples_at_start_and_every_n_steps(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 2, "model.clip_skip": 2})
    prompts = (
        SamplePrompt(prompt="sks, photo", steps=2, width=64, height=64, seed=1),
        SamplePrompt(prompt="red", negative="blue", steps=2, width=48, height=64),
    )
    cfg = update(cfg, **{"sample.prompts": prompts, "sample.at_start": True, "sample.every_n_steps": 2})
    events = []
    result = run_training(cfg, events.append, dataset=ds)
    samples = [e for e in events if isinstance(e, SampleReady)]
    assert [(s.step, s.prompt_index) for s in samples] == [(0, 0), (0, 1), (2, 0), (2, 1)]
    with Image.open(samples[1].path) as im:
        assert im.size == (48, 64) and "Negative prompt: blue" in im.text["parameters"]
    assert len(result.samples) == 4


def test_sdxl_trains_on_non_square_buckets(tmp_path: Path, tiny_sdxl_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2, size=(96, 48))
    cfg = tiny_config(tiny_sdxl_dir, tmp_path, **{"run.max_steps": 2})
    seen = []
    real = TrainingSession.time_ids

    def spy(self, batch, sources):
        out = real(self, batch, sources)
        seen.append(out)
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TrainingSession, "time_ids", spy)
        result = run_training(cfg, dataset=ds)
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    orig_h, orig_w, _, _, tgt_h, tgt_w = seen[0][0].tolist()
    assert (orig_w, orig_h) == (96, 48) and tgt_w > tgt_h


def test_out_of_memory_names_settings_and_saves_state(
    tmp_path: Path, tiny_sd1_dir: Path, monkeypatch
) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 3, "dataset.latent_cache": "none"})
    real = TrainingSession.batch_loss
    calls = {"n": 0}

    def boom(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 MiB")
        return real(self, *a, **k)

    monkeypatch.setattr(TrainingSession, "batch_loss", boom)
    from lora_studio.training.config import LatentCache

    cfg = update(cfg, **{"dataset.latent_cache": LatentCache.NONE})
    with pytest.raises(TrainingError) as info:
        run_training(cfg, dataset=ds)
    text = str(info.value)
    for word in ("batch size", "resolution", "gradient checkpointing", "AdamW8bit", "cache latents"):
        assert word in text
    assert list((Path(cfg.run.output_dir) / "state").glob("*.pt"))


def test_invalid_config_lists_every_error(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "nope", tmp_path, **{"run.batch_size": 0, "network.rank": 0})
    with pytest.raises(ConfigError) as info:
        run_training(cfg, dataset=make_dataset(tmp_path / "ds", 1))
    msg = str(info.value)
    assert "model.base_model" in msg and "run.batch_size" in msg and "network.rank" in msg


def test_text_encoder_idle_during_training_when_cached(
    tmp_path: Path, tiny_sd1_dir: Path, monkeypatch
) -> None:
    from lora_studio.training.encoding import TextEncoder

    calls: list[int] = []
    real = TextEncoder.encode

    def counting(self, captions):
        calls.append(len(captions))
        return real(self, captions)

    monkeypatch.setattr(TextEncoder, "encode", counting)
    ds = make_dataset(tmp_path / "ds", 3)
    run_training(tiny_config(tiny_sd1_dir, tmp_path / "a", **{"run.max_steps": 4}), dataset=ds)
    assert calls == [3]  # every caption once, before the first step
    calls.clear()
    run_training(
        tiny_config(
            tiny_sd1_dir, tmp_path / "b", **{"run.max_steps": 4, "dataset.cache_text_encoder_outputs": False}
        ),
        dataset=ds,
    )
    assert len(calls) == 4  # once per step without the cache


def test_disk_latent_cache_is_reused_by_the_next_run(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.training.config import LatentCache

    ds = make_dataset(tmp_path / "ds", 2)
    opts = {
        "run.max_steps": 1,
        "dataset.latent_cache": LatentCache.DISK,
        "dataset.latent_cache_dir": str(tmp_path / "lc"),
    }
    a = run_training(tiny_config(tiny_sd1_dir, tmp_path / "a", **opts), dataset=ds)
    files = sorted((tmp_path / "lc").rglob("*.safetensors"))
    assert len(files) == 2
    stamps = [f.stat().st_mtime_ns for f in files]
    b = run_training(tiny_config(tiny_sd1_dir, tmp_path / "b", **opts), dataset=ds)
    assert [f.stat().st_mtime_ns for f in files] == stamps and len(
        list((tmp_path / "lc").rglob("*.safetensors"))
    ) == 2
    assert a.losses == b.losses
    flipped = run_training(
        tiny_config(tiny_sd1_dir, tmp_path / "c", **opts, **{"dataset.flip": True}), dataset=ds
    )
    assert len(list((tmp_path / "lc").rglob("*.safetensors"))) == 4 and flipped.steps == 1
