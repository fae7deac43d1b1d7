"""A tiny, deterministic, random-weight FLUX.1 pipeline for the demo and the tests.

Same classes and structure as FLUX.1 (a FluxTransformer2DModel with double- and single-stream
blocks, 16 latent channels packed 2x2 into 64, rotary axes, guidance embedding for dev; a T5 v1.1
encoder with the real T5 tokenizer; a CLIP-L-like encoder with the real CLIP tokenizer; a 16-channel
autoencoder that downsamples 8x with FLUX's scaling and shift), just very narrow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lora_studio.diffusion.t5_tokenizer import T5_MODEL_VOCAB, load_t5_tokenizer
from lora_studio.diffusion.tiny import _clip_config
from lora_studio.diffusion.tokenizer import SD1_PAD, load_clip_tokenizer

TINY_FLUX_RESOLUTION = 64  # native image size (latents 16x8x8, 16 packed tokens of 64 channels)
FLUX_VARIANTS = ("dev", "schnell")

# FLUX.1's autoencoder latent normalisation (ae.safetensors; diffusers' vae/config.json).
FLUX_VAE_SCALING = 0.3611
FLUX_VAE_SHIFT = 0.1159

# The schedulers of the released FLUX.1 models (diffusers' scheduler_config.json of each).
FLUX_SCHEDULER = {
    "dev": dict(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    ),
    "schnell": dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False),
}

_T5_DIM = 32
_CLIP_DIM = 32


def check_variant(variant: str) -> str:
    if variant not in FLUX_VARIANTS:
        raise ValueError(f"unknown FLUX.1 variant {variant!r} (expected one of {FLUX_VARIANTS})")
    return variant


def tiny_flux_transformer_config(variant: str = "dev") -> dict[str, Any]:
    return dict(
        patch_size=1,
        in_channels=64,  # 16 latent channels x 2x2 packing
        out_channels=None,
        num_layers=2,  # double-stream blocks
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_T5_DIM,
        pooled_projection_dim=_CLIP_DIM,
        guidance_embeds=check_variant(variant) == "dev",
        axes_dims_rope=(4, 6, 6),  # sums to attention_head_dim, as (16, 56, 56) sums to 128
    )


def tiny_t5_config() -> dict[str, Any]:
    return dict(
        vocab_size=T5_MODEL_VOCAB,
        d_model=_T5_DIM,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
    )


def tiny_flux_vae_config() -> dict[str, Any]:
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 16, 16, 16],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=4,
        sample_size=TINY_FLUX_RESOLUTION,
        scaling_factor=FLUX_VAE_SCALING,
        shift_factor=FLUX_VAE_SHIFT,
        use_quant_conv=False,
        use_post_quant_conv=False,
        force_upcast=True,
    )


def tiny_clip_config() -> dict[str, Any]:
    return _clip_config(_CLIP_DIM, 2, 49407)


def build_tiny_flux_pipeline(seed: int = 0, variant: str = "dev"):  # -> diffusers.FluxPipeline
    """Build a tiny FLUX.1-dev (guidance embedding) or -schnell pipeline, weights drawn from ``seed``."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    check_variant(variant)
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(**tiny_flux_transformer_config(variant))
        text_encoder = CLIPTextModel(CLIPTextConfig(**tiny_clip_config()))
        text_encoder_2 = T5EncoderModel(T5Config(**tiny_t5_config()))
        vae = AutoencoderKL(**tiny_flux_vae_config())
    finally:
        torch.random.set_rng_state(rng_state)
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER[variant]),
        vae=vae,
        text_encoder=text_encoder.eval(),
        tokenizer=load_clip_tokenizer(SD1_PAD),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer_2=load_t5_tokenizer(),
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]  # DiffusionPipeline has it
    return pipe


TINY_FLUX_FILES = {
    "transformer": "flux1-{variant}-tiny.safetensors",  # BFL transformer only, like flux1-dev.safetensors
    "transformer_fp8": "flux1-{variant}-tiny-fp8.safetensors",  # the same in float8_e4m3fn
    "clip_l": "clip_l.safetensors",
    "t5xxl": "t5xxl_fp16.safetensors",
    "ae": "ae.safetensors",
    "all_in_one": "flux1-{variant}-tiny-all-in-one.safetensors",  # ComfyUI's checkpoint layout
    "diffusers": "flux1-{variant}-tiny-diffusers",
}
# How the released files store each part (the transformer and autoencoder in bf16; ComfyUI's
# clip_l and t5xxl_fp16 in fp16). Every layout of a tiny model stores the same values.
TINY_FLUX_DTYPES = {
    "transformer": torch.bfloat16,
    "clip_l": torch.float16,
    "t5xxl": torch.float16,
    "ae": torch.bfloat16,
}
_PIPE_PARTS = {"transformer": "transformer", "clip_l": "text_encoder", "t5xxl": "text_encoder_2", "ae": "vae"}


def rounded_tiny_flux_pipeline(seed: int = 0, variant: str = "dev"):  # -> diffusers.FluxPipeline
    """The tiny pipeline with every weight rounded to its file dtype (:data:`TINY_FLUX_DTYPES`) and
    kept in fp32: what loading any of the saved files gives on a CPU."""
    pipe = build_tiny_flux_pipeline(seed, variant)
    for part, name in _PIPE_PARTS.items():
        with torch.no_grad():
            for p in getattr(pipe, name).parameters():
                p.copy_(p.to(TINY_FLUX_DTYPES[part]).to(p.dtype))
    return pipe


def save_tiny_flux(
    out_dir: str | Path,
    seed: int = 0,
    variant: str = "dev",
    *,
    components_dir: str | Path | None = None,
    vae_dir: str | Path | None = None,
    layouts: tuple[str, ...] = tuple(TINY_FLUX_FILES),
) -> dict[str, Path]:
    """Write one tiny FLUX.1 model in every layout users have (or those in ``layouts``) into ``out_dir``.

    Keys of the result: ``transformer`` (BFL single file), ``transformer_fp8``, ``clip_l``, ``t5xxl``,
    ``ae`` (ComfyUI's component files; in ``components_dir`` / ``vae_dir`` when given, as in a
    ``models/text_encoders`` and ``models/vae`` layout), ``all_in_one`` and ``diffusers`` (a folder).
    Every file carries its component configs in its metadata (the real files need none: they match
    the bundled FLUX.1 configs).
    """
    from lora_studio.diffusion.flux_format import save_flux_file

    out_dir = Path(out_dir)
    te_dir = Path(components_dir) if components_dir else out_dir
    ae_dir = Path(vae_dir) if vae_dir else te_dir
    for folder in (out_dir, te_dir, ae_dir):
        folder.mkdir(parents=True, exist_ok=True)
    pipe = rounded_tiny_flux_pipeline(seed, variant)
    names = {k: v.format(variant=variant) for k, v in TINY_FLUX_FILES.items()}
    files = {
        "transformer": (out_dir, ("transformer",), False, False),
        "transformer_fp8": (out_dir, ("transformer",), False, True),
        "clip_l": (te_dir, ("clip_l",), False, False),
        "t5xxl": (te_dir, ("t5xxl",), False, False),
        "ae": (ae_dir, ("ae",), False, False),
        "all_in_one": (out_dir, ("transformer", "clip_l", "t5xxl", "ae"), True, False),
    }
    out: dict[str, Path] = {}
    for key, (folder, parts, all_in_one, fp8) in files.items():
        if key in layouts:
            out[key] = save_flux_file(
                pipe,
                folder / names[key],
                parts,
                all_in_one=all_in_one,
                dtype=TINY_FLUX_DTYPES,
                fp8=fp8,
                embed_config=True,
            )
    if "diffusers" in layouts:
        for part, name in _PIPE_PARTS.items():
            getattr(pipe, name).to(TINY_FLUX_DTYPES[part])
        pipe.save_pretrained(out_dir / names["diffusers"], safe_serialization=True)
        out["diffusers"] = out_dir / names["diffusers"]
    return out
