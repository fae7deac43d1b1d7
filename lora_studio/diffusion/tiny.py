"""Tiny, deterministic, random-weight SD1-like and SDXL-like pipelines for the demo and the tests.

They use the real CLIP tokenizer (49,408 tokens) and the same component classes as the real models,
with the same structure (cross-attention blocks, two text encoders and size conditioning for SDXL,
a VAE that downsamples 8x), just very narrow, so a training step takes milliseconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.tokenizer import OPENCLIP_PAD, SD1_PAD, load_clip_tokenizer

TINY_RESOLUTION = 64  # native image size of the tiny models (latents are 8x8)

_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    steps_offset=1,
    timestep_spacing="leading",
    prediction_type="epsilon",
)

_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[8, 16, 16, 16],
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=4,
    sample_size=TINY_RESOLUTION,
)


def _clip_config(hidden: int, layers: int, pad_id: int, projection: int = 32) -> dict[str, Any]:
    return dict(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=projection,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=pad_id,
    )


def tiny_unet_config(family: ModelFamily) -> dict[str, Any]:
    common = dict(
        sample_size=TINY_RESOLUTION // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=[32, 64],
        norm_num_groups=8,
    )
    if family == ModelFamily.SDXL:
        return dict(
            common,
            down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
            transformer_layers_per_block=[1, 2],
            attention_head_dim=[2, 4],
            use_linear_projection=True,
            cross_attention_dim=64,  # TE1 hidden (32) + TE2 hidden (32)
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 32,  # 6 size/crop numbers + pooled TE2
        )
    return dict(
        common,
        down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
        up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
        attention_head_dim=8,
        cross_attention_dim=32,
        use_linear_projection=family == ModelFamily.SD2,
    )


def build_tiny_pipeline(family: ModelFamily | str = ModelFamily.SD1, seed: int = 0):
    """Build a tiny pipeline with weights drawn deterministically from ``seed``."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    family = ModelFamily(family)
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**tiny_unet_config(family))
        vae_cfg = dict(_VAE, scaling_factor=0.13025 if family == ModelFamily.SDXL else 0.18215)
        vae = AutoencoderKL(**vae_cfg)
        scheduler = EulerDiscreteScheduler(**_SCHEDULER)
        if family == ModelFamily.SDXL:
            te1 = CLIPTextModel(CLIPTextConfig(**_clip_config(32, 3, 49407)))
            te2 = CLIPTextModelWithProjection(CLIPTextConfig(**_clip_config(32, 3, 0)))
            pipe = StableDiffusionXLPipeline(
                vae=vae,
                text_encoder=te1,
                text_encoder_2=te2,
                tokenizer=load_clip_tokenizer(SD1_PAD),
                tokenizer_2=load_clip_tokenizer(OPENCLIP_PAD),
                unet=unet,
                scheduler=scheduler,
                force_zeros_for_empty_prompt=True,
            )
        else:
            pad = SD1_PAD if family == ModelFamily.SD1 else OPENCLIP_PAD
            te = CLIPTextModel(CLIPTextConfig(**_clip_config(32, 3, 49407 if pad == SD1_PAD else 0)))
            pipe = StableDiffusionPipeline(  # type: ignore[assignment]  # SD1/SD2 and SDXL pipelines share one variable
                vae=vae,
                text_encoder=te,
                tokenizer=load_clip_tokenizer(pad),
                unet=unet,
                scheduler=scheduler,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
    finally:
        torch.random.set_rng_state(gen_state)
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]  # DiffusionPipeline has it; the stub misses it
    return pipe


def save_tiny_diffusers(family: ModelFamily | str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny model as a diffusers folder (safetensors weights)."""
    out_dir = Path(out_dir)
    build_tiny_pipeline(family, seed).save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def save_tiny_model(family: ModelFamily | str, out_dir: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write the same tiny model twice: ``<out_dir>/diffusers/`` and ``<out_dir>/tiny-<family>.safetensors``."""
    from lora_studio.diffusion.ldm_format import save_single_file

    family = ModelFamily(family)
    out_dir = Path(out_dir)
    pipe = build_tiny_pipeline(family, seed)
    pipe.save_pretrained(out_dir / "diffusers", safe_serialization=True)
    single = save_single_file(pipe, out_dir / f"tiny-{family}.safetensors", embed_config=True, family=family)
    return {"diffusers": out_dir / "diffusers", "single_file": single}
