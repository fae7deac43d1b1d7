"""FLUX.1 training on the tiny FLUX model (CPU): loss, resume, fp8 / block swap, the saved file.

Tolerances: block swapping runs the same operations (exactly equal losses); fp8 base weights
round every frozen Linear weight to 3 mantissa bits, which moves each loss by well under 2 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, ConfigError
from lora_studio.core.events import StepFinished
from lora_studio.training import run_files
from lora_studio.training.config import SamplePrompt
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config
from .test_trainer import _fixed_losses

# kohya FLUX modules of the tiny model (2 double, 2 single blocks) and of its 2-layer CLIP-L
DOUBLE = ("img_attn_qkv", "img_attn_proj", "img_mlp_0", "img_mlp_2", "img_mod_lin")
SINGLE = ("linear1", "linear2", "modulation_lin")
TE = ("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "self_attn_out_proj", "mlp_fc1", "mlp_fc2")
KOHYA_UNET = {
    *(f"lora_unet_double_blocks_{i}_{s}_{m[4:]}" for i in range(2) for s in ("img", "txt") for m in DOUBLE),
    *(f"lora_unet_single_blocks_{i}_{m}" for i in range(2) for m in SINGLE),
}
KOHYA_TE = {f"lora_te1_text_model_encoder_layers_{i}_{m}" for i in range(2) for m in TE}


def _cfg(model: Path, out: Path, **kw):
    opts = {"optimizer.learning_rate": 3e-3, "network.rank": 8, "network.alpha": 8.0, **kw}
    return tiny_config(model, out, **opts)


def _modules(path: Path) -> tuple[set[str], dict[str, str]]:
    with safe_open(str(path), "pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    assert all(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for k in keys)
    return {k.split(".")[0] for k in keys}, meta


def test_flux_loss_drops_and_file_is_kohya_flux(tmp_path: Path, tiny_flux_model: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _cfg(tiny_flux_model, tmp_path, **{"run.max_steps": 30})
    events: list = []
    result = run_training(cfg, events.append, dataset=ds)
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert len(steps) == 30 and all(np.isfinite(e.loss) for e in steps)
    before, after = _fixed_losses(cfg, ds, result.state_path)
    assert after < before * 0.9, (before, after)
    modules, meta = _modules(result.final_lora)
    assert modules == KOHYA_UNET  # every kohya module of the transformer, q/k/v and linear1 fused
    assert meta["ss_base_model_version"] == "flux1"
    assert meta["ss_network_module"] == "networks.lora_flux"
    assert meta["modelspec.architecture"] == "flux-1-dev/lora"
    assert meta["ss_guidance_scale"] == "1.0" and meta["ss_timestep_sampling"] == "shift"
    assert meta["ss_model_prediction_type"] == "raw" and meta["ss_discrete_flow_shift"] == "3.1582"


@pytest.mark.parametrize(
    "options",
    [
        {"flux.timestep_sampling": "sigma", "flux.model_prediction_type": "sigma_scaled", "flux.weighting_scheme": "cosmap"},
        {"flux.timestep_sampling": "flux_shift", "flux.model_prediction_type": "additive", "flux.apply_t5_attn_mask": True},
        {"flux.timestep_sampling": "uniform", "flux.guidance_scale": 3.5, "run.gradient_checkpointing": True},
    ],
)
def test_flux_options_train(tmp_path: Path, tiny_flux_model: Path, options: dict) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    plain = run_training(_cfg(tiny_flux_model, tmp_path / "a", **{"run.max_steps": 3}), dataset=ds)
    other = run_training(_cfg(tiny_flux_model, tmp_path / "b", **{"run.max_steps": 3, **options}), dataset=ds)
    assert all(np.isfinite(other.losses)) and other.losses != plain.losses  # the option reached the loss


def test_flux_resume_is_bit_identical(tmp_path: Path, tiny_flux_model: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 3)
    opts = {"run.epochs": 2, "run.batch_size": 1, "network.dropout": 0.1, "dataset.flip": True}
    full = run_training(_cfg(tiny_flux_model, tmp_path / "a", **opts), dataset=ds)
    cfg = _cfg(tiny_flux_model, tmp_path / "b", **opts)
    control = RunControl()

    def stop_at_4(e: object) -> None:
        if isinstance(e, StepFinished) and e.step == 4:
            control.cancel()

    with pytest.raises(Cancelled):
        run_training(cfg, stop_at_4, control, dataset=ds)
    state = run_files.latest_state(cfg.run.output_dir, "t")
    resumed = run_training(cfg, dataset=ds, resume_from=state)
    assert len(full.losses) == 6 and resumed.losses == full.losses
    a, b = load_file(str(full.final_lora)), load_file(str(resumed.final_lora))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_flux_fp8_and_block_swap_follow_the_plain_losses(tmp_path: Path, tiny_flux_model: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    opts = {"run.max_steps": 6}
    plain = run_training(_cfg(tiny_flux_model, tmp_path / "a", **opts), dataset=ds).losses
    swap = run_training(_cfg(tiny_flux_model, tmp_path / "b", **opts, **{"memory.blocks_to_swap": 3}), dataset=ds)
    assert swap.losses == plain  # the same operations: exactly the same losses
    fp8 = run_training(_cfg(tiny_flux_model, tmp_path / "c", **opts, **{"memory.unet_weights": "fp8"}), dataset=ds)
    assert fp8.losses != plain
    assert np.allclose(fp8.losses, plain, rtol=0.02), (fp8.losses, plain)
    both = {"memory.unet_weights": "fp8", "memory.text_encoder_weights": "fp8", "memory.blocks_to_swap": 4}
    combined = run_training(_cfg(tiny_flux_model, tmp_path / "d", **opts, **both), dataset=ds)
    assert np.allclose(combined.losses, plain, rtol=0.02)


def test_flux_too_many_blocks_to_swap_is_a_clear_error(tmp_path: Path, tiny_flux_model: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 1)
    with pytest.raises(ConfigError, match="only 4 blocks"):
        run_training(_cfg(tiny_flux_model, tmp_path, **{"memory.blocks_to_swap": 5}), dataset=ds)


def _injected(module: torch.nn.Module) -> int:
    from peft.tuners.lora import LoraLayer

    return sum(1 for m in module.modules() if isinstance(m, LoraLayer) and m.lora_A)


def _render(pipe, prompt: SamplePrompt) -> np.ndarray:
    return pipe(
        prompt.prompt,
        width=64,
        height=64,
        num_inference_steps=prompt.steps,
        guidance_scale=prompt.guidance,
        generator=torch.Generator().manual_seed(prompt.seed),
        max_sequence_length=16,
        output_type="np",
    ).images[0]


@pytest.mark.parametrize("tiny_flux_model", ["full"], indirect=True)
def test_flux_lora_loads_in_diffusers_and_reproduces_the_trainers_sample(
    tmp_path: Path, tiny_flux_model: Path
) -> None:
    """diffusers' kohya FLUX loader assumes FLUX.1's real widths, so this runs on a transformer of
    that width (one block of each kind)."""
    from .conftest import flux_pipeline

    ds = make_dataset(tmp_path / "ds", 1)
    prompt = SamplePrompt(prompt="sks, photo, tag0, red", steps=2, seed=7, guidance=3.5)
    options = {
        "run.max_steps": 2,
        "run.batch_size": 1,
        "optimizer.learning_rate": 1e-2,
        "network.rank": 4,
        "network.alpha": 4.0,
        "network.train_text_encoder": True,
        "flux.t5xxl_max_token_length": 16,
        "sample.prompts": (prompt,),
        "sample.every_n_steps": 2,
    }
    result = run_training(tiny_config(tiny_flux_model, tmp_path, **options), dataset=ds)
    modules, _ = _modules(result.final_lora)
    expected = {m for m in KOHYA_UNET | KOHYA_TE if "blocks_1_" not in m}  # one block of each kind
    assert modules == expected
    pipe = flux_pipeline("full")
    plain = _render(pipe, prompt)
    linears = sum(
        1
        for n, m in pipe.transformer.named_modules()
        if n.startswith(("transformer_blocks.", "single_transformer_blocks.")) and isinstance(m, torch.nn.Linear)
    )
    pipe.load_lora_weights(str(result.final_lora))
    assert _injected(pipe.transformer) == linears == 14 + 6  # fused qkv / linear1 split back: every layer
    assert _injected(pipe.text_encoder) == 12
    image = _render(pipe, prompt)
    ours = np.asarray(Image.open(result.samples[-1]).convert("RGB"), dtype=np.float32) / 255
    assert np.abs(ours - image).max() <= 2 / 255  # PNG rounding
    assert np.abs(plain - image).max() > 4 / 255  # and the LoRA changes the picture


def test_flux_text_outputs_cached_on_disk_encoders_freed_samples_still_made(
    tmp_path: Path, tiny_flux_model: Path
) -> None:
    from lora_studio.training.setup import build_session

    ds = make_dataset(tmp_path / "ds", 2)
    options = {
        "flux.cache_text_encoder_outputs_to_disk": True,
        "dataset.latent_cache_dir": str(tmp_path / "cache"),
        "sample.prompts": (SamplePrompt(prompt="a photo of sks", steps=2),),
        "sample.every_n_steps": 2,
        "run.max_steps": 2,
    }
    cfg = _cfg(tiny_flux_model, tmp_path, **options)
    first = build_session(cfg, ds, torch.device("cpu"), lambda e: None)
    first.fill_text_cache(lambda e: None)
    files = list((tmp_path / "cache" / "text").rglob("*.safetensors"))
    assert len(files) == 3  # two captions and the sample prompt
    assert first.releases_text_encoders(keep_pipeline=False)  # even though the run makes samples
    again = build_session(cfg, ds, torch.device("cpu"), lambda e: None)
    again.fill_text_cache(lambda e: None)
    assert again.text_cache.disk_hits == 3
    first.release_text_encoders()
    assert all(p.numel() == 0 for te in first.text_encoders for p in te.parameters())
    result = run_training(cfg, dataset=ds)
    assert len(result.samples) == 1 and result.samples[0].exists()


def test_flux_trains_on_4_bit_base_weights(tmp_path: Path, tiny_flux_model: Path) -> None:
    from lora_studio.diffusion.memory import base_weight_dtypes
    from lora_studio.training.setup import build_session

    ds = make_dataset(tmp_path / "ds", 2)
    opts = {"run.max_steps": 3}
    plain = run_training(_cfg(tiny_flux_model, tmp_path / "a", **opts), dataset=ds).losses
    cfg = _cfg(tiny_flux_model, tmp_path / "b", **opts, **{"memory.unet_weights": "nf4"})
    nf4 = run_training(cfg, dataset=ds).losses
    assert nf4 != plain and np.allclose(nf4, plain, rtol=0.03), (nf4, plain)
    session = build_session(cfg, ds, torch.device("cpu"), lambda e: None)
    assert torch.uint8 in base_weight_dtypes(session.unet)  # bitsandbytes' packed 4-bit storage
