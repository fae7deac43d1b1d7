"""FLUX settings without a model: the [flux] section, kohya import, presets, validation, flow maths."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.base_weights import BaseWeights
from lora_studio.training import flow_loss as F
from lora_studio.training.config import (
    FluxConfig,
    ModelPrediction,
    NetworkAlgo,
    OptimizerKind,
    TimestepSampling,
    TrainConfig,
    WeightingScheme,
    config_from_dict,
    config_to_toml,
    load_config,
    save_config,
    update,
)
from lora_studio.training.kohya_import import import_kohya_gui_json, import_sd_scripts_toml, parse_prompt_line
from lora_studio.training.presets import FLUX_VRAM_TIERS, Purpose, flux_epochs, preset
from lora_studio.training.validation import validate

from .flux_kohya_configs import GUI_FLUX, SD_SCRIPTS_FLUX_TOML

# The FLUX settings of the issue: each must import into a FLUX run, none reported as unsupported.
FLUX_KEYS = (
    "pretrained_model_name_or_path",
    "clip_l",
    "t5xxl",
    "ae",
    "fp8_base",
    "blocks_to_swap",
    "timestep_sampling",
    "discrete_flow_shift",
    "model_prediction_type",
    "guidance_scale",
    "network_module",
    "t5xxl_max_token_length",
    "apply_t5_attn_mask",
    "cache_text_encoder_outputs",
    "cache_text_encoder_outputs_to_disk",
)


def test_flux_section_round_trips_through_toml(tmp_path: Path) -> None:
    cfg = update(
        TrainConfig(),
        **{
            "model.family": ModelFamily.FLUX,
            "flux.timestep_sampling": TimestepSampling.FLUX_SHIFT,
            "flux.model_prediction_type": ModelPrediction.SIGMA_SCALED,
            "flux.weighting_scheme": WeightingScheme.COSMAP,
            "flux.guidance_scale": 2.5,
            "flux.apply_t5_attn_mask": True,
            "flux.t5xxl": "t5xxl_fp16.safetensors",
        },
    )
    save_config(cfg, tmp_path / "flux.toml")
    assert "[flux]" in (tmp_path / "flux.toml").read_text(encoding="utf-8")
    again, unknown = load_config(tmp_path / "flux.toml")
    assert unknown == [] and again == cfg
    # a settings file written before the section existed loads with its defaults
    old = config_to_toml(TrainConfig()).split("[flux]")[0]
    import tomllib

    loaded, unknown = config_from_dict(tomllib.loads(old))
    assert unknown == [] and loaded.flux == FluxConfig()


def test_kohya_gui_flux_json_imports_every_flux_setting(tmp_path: Path) -> None:
    path = tmp_path / "flux.json"
    path.write_text(json.dumps(GUI_FLUX), encoding="utf-8")
    r = import_kohya_gui_json(path)
    assert r.not_understood == ()
    c = r.config
    assert c.model.family == ModelFamily.FLUX and c.model.prediction is None
    assert c.model.base_model.endswith("flux1-dev.safetensors")
    assert c.flux.clip_l.endswith("clip_l.safetensors") and c.flux.ae.endswith("ae.safetensors")
    assert c.flux.t5xxl.endswith("t5xxl_fp16.safetensors")
    assert c.flux.timestep_sampling == TimestepSampling.SIGMOID and c.flux.discrete_flow_shift == 3.1582
    assert c.flux.model_prediction_type == ModelPrediction.RAW and c.flux.guidance_scale == 1.0
    assert c.flux.apply_t5_attn_mask and c.flux.t5xxl_max_token_length == 512
    assert c.flux.cache_text_encoder_outputs_to_disk and c.dataset.cache_text_encoder_outputs
    assert c.memory.unet_weights == BaseWeights.FP8 and c.memory.text_encoder_weights == BaseWeights.FP8
    assert c.network.rank == 8 and c.network.target.value == "attention_ff"  # conv_dim 1 means nothing here
    assert c.optimizer.optimizer == OptimizerKind.ADAFACTOR and c.optimizer.args["relative_step"] is False
    assert c.sample.prompts[0].guidance == 3.5 and c.sample.prompts[0].width == 1024


def test_sd_scripts_flux_toml_imports_every_flux_setting(tmp_path: Path) -> None:
    path = tmp_path / "flux.toml"
    path.write_text(SD_SCRIPTS_FLUX_TOML, encoding="utf-8")
    r = import_sd_scripts_toml(path)
    assert r.not_understood == ()
    flat = {line.split("=")[0].strip() for line in SD_SCRIPTS_FLUX_TOML.splitlines() if "=" in line}
    assert set(FLUX_KEYS) - {"flux1_checkbox"} <= flat  # the realistic config really uses them all
    c = r.config
    assert c.model.family == ModelFamily.FLUX and c.memory.blocks_to_swap == 18
    assert c.flux.timestep_sampling == TimestepSampling.SHIFT and c.flux.discrete_flow_shift == 3.1582
    assert c.flux.cache_text_encoder_outputs_to_disk and c.optimizer.optimizer == OptimizerKind.ADAMW8BIT
    assert not c.network.train_text_encoder


def test_missing_flux_options_take_sd_scripts_defaults_and_odd_ones_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "min.toml"
    path.write_text(
        'pretrained_model_name_or_path = "flux1-dev.safetensors"\nnetwork_module = "networks.lora_flux"\n'
        'train_t5xxl = true\ntrain_blocks = "single"\nsplit_qkv = true\n',
        encoding="utf-8",
    )
    r = import_sd_scripts_toml(path)
    f = r.config.flux
    assert (f.timestep_sampling, f.discrete_flow_shift, f.model_prediction_type, f.guidance_scale) == (
        TimestepSampling.SIGMA,
        3.0,
        ModelPrediction.SIGMA_SCALED,
        3.5,
    )
    assert any(u.startswith("train_t5xxl") for u in r.not_understood)
    assert any(u.startswith("train_blocks") for u in r.not_understood)
    assert any("split_qkv" in n for n in r.notes)


def test_prompt_line_reads_flux_guidance() -> None:
    p = parse_prompt_line("a cat --w 1024 --h 768 --g 4.5 --s 28 --d 3")
    assert p is not None and (p.guidance, p.width, p.steps, p.seed) == (4.5, 1024, 28, 3)


@pytest.mark.parametrize("vram", FLUX_VRAM_TIERS)
def test_flux_presets_follow_the_guides(vram: int) -> None:
    c = preset(Purpose.CHARACTER, ModelFamily.FLUX, vram, pictures=13)
    assert c.model.family == ModelFamily.FLUX and c.dataset.resolution == 1024
    assert 8 <= c.network.rank <= 16 and c.run.batch_size == 1
    assert c.memory.unet_weights == BaseWeights.FP8 and c.run.gradient_checkpointing
    assert (c.memory.blocks_to_swap > 0) == (vram < 24)  # 16 GB swaps a few blocks for a safety margin
    assert c.run.epochs == 200  # 13 pictures, repeats 1: about 2,600 steps
    assert c.flux.guidance_scale == 1.0 and c.loss.min_snr_gamma == 0
    errors = {i.field for i in validate(c) if i.is_error}
    assert errors <= {"model.base_model", "dataset.path", "optimizer.optimizer"}


def test_flux_epochs_follow_the_picture_count() -> None:
    assert flux_epochs(Purpose.CHARACTER, 13) == 200
    assert flux_epochs(Purpose.CHARACTER, 52) == 50
    assert flux_epochs(Purpose.CHARACTER, 13, batch_size=2) == 371
    assert preset(Purpose.STYLE, ModelFamily.FLUX, 16, pictures=30).run.epochs == 100


def test_validation_of_flux_and_swap_settings() -> None:
    flux = update(TrainConfig(), **{"model.family": ModelFamily.FLUX})
    bad = update(
        flux,
        **{
            "run.precision": "fp16",
            "dataset.resolution": 1000,
            "flux.discrete_flow_shift": 0.0,
            "flux.t5xxl_max_token_length": 600,
            "memory.blocks_to_swap": 58,
            "flux.ae": "/nowhere/ae.safetensors",
        },
    )
    fields = {i.field: i.message for i in validate(bad) if i.is_error}
    for key in (
        "run.precision",
        "dataset.resolution",
        "flux.discrete_flow_shift",
        "flux.t5xxl_max_token_length",
        "memory.blocks_to_swap",
        "flux.ae",
    ):
        assert key in fields, key
    assert "57 blocks" in fields["memory.blocks_to_swap"]
    negative = update(TrainConfig(), **{"memory.blocks_to_swap": -1})
    assert any(i.field == "memory.blocks_to_swap" and "negative" in i.message for i in validate(negative))
    sdxl = update(TrainConfig(), **{"model.family": ModelFamily.SDXL, "memory.blocks_to_swap": 12})
    assert any(i.field == "memory.blocks_to_swap" and "11" in i.message for i in validate(sdxl))


def test_flow_sampling_matches_sd_scripts_formulas() -> None:
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    base = FluxConfig(sigmoid_scale=1.0, discrete_flow_shift=3.0)
    s = torch.sigmoid(torch.randn(4, generator=gen()))
    shift = F.draw_sigmas(update(base, timestep_sampling=TimestepSampling.SHIFT), 4, (128, 128), gen())
    assert torch.allclose(shift, s * 3 / (1 + 2 * s))
    flux = F.draw_sigmas(update(base, timestep_sampling=TimestepSampling.FLUX_SHIFT), 4, (128, 128), gen())
    mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * (64 * 64 - 256)  # 1024 px: 4096 tokens -> mu 1.15
    assert mu == pytest.approx(1.15)
    assert torch.allclose(flux, math.exp(mu) / (math.exp(mu) + (1 / s - 1)))
    sigma = F.draw_sigmas(update(base, timestep_sampling=TimestepSampling.SIGMA), 4, (128, 128), gen())
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    u = torch.rand(4, generator=gen())
    assert torch.allclose(sigma, sched.sigmas[(u * 1000).long()].float())
    assert torch.allclose(F.schedule_sigmas(3.0), sched.sigmas.float())


def test_prediction_types_and_packing() -> None:
    pred, noisy = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8)
    sig = torch.tensor([0.2, 0.7]).view(-1, 1, 1, 1)
    raw, w = F.apply_prediction_type(FluxConfig(model_prediction_type=ModelPrediction.RAW), pred, noisy, sig)
    assert raw is pred and w is None
    add, _ = F.apply_prediction_type(FluxConfig(model_prediction_type=ModelPrediction.ADDITIVE), pred, noisy, sig)
    assert torch.equal(add, pred + noisy)
    cfg = FluxConfig(model_prediction_type=ModelPrediction.SIGMA_SCALED, weighting_scheme=WeightingScheme.SIGMA_SQRT)
    scaled, w = F.apply_prediction_type(cfg, pred, noisy, sig)
    assert torch.allclose(scaled, noisy - sig * pred) and torch.allclose(w, sig**-2)
    from diffusers import FluxPipeline

    latents = torch.randn(2, 16, 8, 12)
    packed = F.pack_latents(latents)
    assert torch.equal(packed, FluxPipeline._pack_latents(latents, 2, 16, 8, 12))
    assert torch.equal(F.unpack_latents(packed, 8, 12), latents)
    ids = FluxPipeline._prepare_latent_image_ids(2, 4, 6, "cpu", torch.float32)
    assert torch.equal(F.image_ids(8, 12, torch.device("cpu"), torch.float32), ids)


def test_lora_flux_network_args_are_read_as_flux_options(tmp_path: Path) -> None:
    path = tmp_path / "args.toml"
    path.write_text(
        'pretrained_model_name_or_path = "flux1-dev.safetensors"\nnetwork_module = "networks.lora_flux"\n'
        'network_args = ["train_blocks=all", "split_qkv=True", "train_t5xxl=False", "in_dims=[4,0,0,0,4]"]\n',
        encoding="utf-8",
    )
    r = import_sd_scripts_toml(path)
    assert r.config.model.family == ModelFamily.FLUX
    assert r.not_understood == ("network_args.in_dims: not supported",)
    assert any("split_qkv" in n for n in r.notes)


@pytest.mark.parametrize("algo", [NetworkAlgo.LOHA, NetworkAlgo.LOKR, NetworkAlgo.DORA])
def test_flux_refuses_lycoris_network_types_in_plain_words(algo: NetworkAlgo) -> None:
    """FLUX.1 training is plain LoRA (FluxTrainingSession); LoHa/LoKr/DoRA would silently be LoRA."""
    flux = update(TrainConfig(), **{"model.family": ModelFamily.FLUX, "network.algo": algo})
    messages = [i.message for i in validate(flux) if i.is_error and i.field == "network.algo"]
    assert len(messages) == 1
    assert "FLUX.1 trains plain LoRA only" in messages[0] and "LoHa, LoKr and DoRA" in messages[0]
    assert "Set the network type to LoRA" in messages[0]
    lora = update(flux, **{"network.algo": NetworkAlgo.LORA})
    assert not any(i.field == "network.algo" for i in validate(lora))
    sdxl = update(flux, **{"model.family": ModelFamily.SDXL})
    assert not any(i.field == "network.algo" for i in validate(sdxl))
