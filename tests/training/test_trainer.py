"""End-to-end training on tiny models: loss drops, the file is kohya, it reloads in diffusers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from lora_studio.core.events import CheckpointSaved, EpochFinished, StepFinished
from lora_studio.training.checkpoints import load_state
from lora_studio.training.setup import build_session
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config


def _fixed_losses(cfg, ds, state_path: Path) -> tuple[float, float]:
    session = build_session(cfg, ds, torch.device("cpu"), lambda e: None)
    torch.manual_seed(0)
    train = [s for s in session.sources if not s.is_reg]
    before = session.fixed_loss(train, seed=123)
    session.load_lora_state_dicts(load_state(state_path).lora)
    after = session.fixed_loss(train, seed=123)
    return before, after


def test_loss_drops_on_fixed_set(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{"run.max_steps": 30, "optimizer.learning_rate": 3e-3, "network.rank": 8, "network.alpha": 8.0},
    )
    events = []
    result = run_training(cfg, events.append, dataset=ds)
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert len(steps) == 30 and steps[-1].total_steps == 30
    assert all(torch.isfinite(torch.tensor(e.loss)) for e in steps)
    assert steps[-1].it_per_s > 0 and steps[-1].lr == pytest.approx(3e-3)
    assert any(isinstance(e, EpochFinished) for e in events)
    before, after = _fixed_losses(cfg, ds, result.state_path)
    assert after < before * 0.8, (before, after)


def _kohya_check(path: Path, *, te: bool, sdxl: bool, alpha: float) -> dict[str, str]:
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
        meta = f.metadata()
        alphas = {float(f.get_tensor(k)) for k in keys if k.endswith(".alpha")}
    prefixes = {k.split("_")[0] + "_" + k.split("_")[1] for k in keys}
    assert all(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for k in keys)
    expected = {"lora_unet"}
    if te:
        expected |= {"lora_te1", "lora_te2"} if sdxl else {"lora_te"}
    assert prefixes == expected, prefixes
    assert alphas == {alpha}
    if te and not sdxl:
        assert any(k.startswith("lora_te_text_model_encoder_layers_0_") for k in keys)
    return meta


@pytest.mark.parametrize(
    "family,te",
    [("sd1", False), ("sd1", True), pytest.param("sdxl", False, marks=pytest.mark.slow), ("sdxl", True)],
)
def test_saved_lora_reloads_in_diffusers(tmp_path: Path, request, family: str, te: bool) -> None:
    from diffusers import DiffusionPipeline

    model_dir = request.getfixturevalue("tiny_sdxl_dir" if family == "sdxl" else "tiny_sd1_dir")
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(
        model_dir,
        tmp_path,
        **{"run.max_steps": 3, "network.train_text_encoder": te, "optimizer.learning_rate": 2e-2},
    )
    result = run_training(cfg, dataset=ds, keep_pipeline=True)
    meta = _kohya_check(result.final_lora, te=te, sdxl=family == "sdxl", alpha=2.0)
    assert meta["ss_network_dim"] == "4" and meta["ss_network_alpha"] in ("2", "2.0")
    assert meta["ss_base_model_version"].startswith("sdxl" if family == "sdxl" else "sd_v1")
    assert meta["ss_steps"] == "3" and "modelspec.architecture" in meta and "sshs_model_hash" in meta

    def render(pipe):
        g = torch.Generator().manual_seed(5)
        return pipe(
            "sks, photo", num_inference_steps=2, generator=g, output_type="np", width=64, height=64
        ).images

    trained = render(result.pipeline)
    fresh = DiffusionPipeline.from_pretrained(model_dir, local_files_only=True)
    fresh.set_progress_bar_config(disable=True)
    base = render(fresh)
    fresh.load_lora_weights(str(result.final_lora))
    loaded = render(fresh)
    assert abs(trained - base).max() > 1e-3  # the LoRA does something
    assert abs(trained - loaded).max() < 1e-3


def test_checkpoints_every_epoch_keep_last(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{"run.epochs": 4, "run.batch_size": 1, "run.save_every_n_epochs": 1, "run.keep_last": 2},
    )
    events = []
    result = run_training(cfg, events.append, dataset=ds)
    out = Path(cfg.run.output_dir)
    names = sorted(p.name for p in out.glob("*.safetensors"))
    assert names == ["t-e0002-s000004.safetensors", "t-e0003-s000006.safetensors", "t.safetensors"]
    saved = [e for e in events if isinstance(e, CheckpointSaved) and e.kind == "lora"]
    assert [e.epoch for e in saved] == [1, 2, 3, 4] and result.final_lora == out / "t.safetensors"
