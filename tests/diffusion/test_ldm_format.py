"""The LDM (single-file) writer: exact round trips on tiny models, real key names on real sizes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from accelerate import init_empty_weights
from safetensors import safe_open

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.configs import materialize_config
from lora_studio.diffusion.families import EMBEDDED_CONFIG_KEY
from lora_studio.diffusion.ldm_format import pipeline_to_ldm, save_single_file
from lora_studio.diffusion.loading import load_pipeline
from lora_studio.diffusion.tiny import build_tiny_pipeline

PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_round_trip_is_exact(tmp_path, family):
    original = build_tiny_pipeline(family, seed=3)
    path = save_single_file(
        original,
        tmp_path / f"{family}.safetensors",
        embed_config=True,
        metadata={"modelspec.title": "round trip"},
    )
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    assert meta["modelspec.title"] == "round trip" and EMBEDDED_CONFIG_KEY in meta
    loaded = load_pipeline(path)
    assert loaded.family == family and loaded.kind == "single_file"
    for part in PARTS:
        a, b = getattr(original, part, None), getattr(loaded.pipeline, part, None)
        if a is None:
            assert b is None
            continue
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys(), part
        unequal = [k for k in sa if not torch.equal(sa[k], sb[k])]
        assert not unequal, (part, unequal[:5])


def test_half_precision_file(tmp_path):
    path = save_single_file(
        build_tiny_pipeline("sd1"), tmp_path / "half.safetensors", dtype=torch.float16, embed_config=True
    )
    with safe_open(str(path), framework="pt") as fh:
        assert fh.get_tensor("model.diffusion_model.out.2.weight").dtype == torch.float16


def _meta_pipeline(name: str) -> SimpleNamespace:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    root = materialize_config(name)
    with init_empty_weights():
        pipe = SimpleNamespace(
            unet=UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(root / "unet")),
            vae=AutoencoderKL.from_config(AutoencoderKL.load_config(root / "vae")),
            text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(root, subfolder="text_encoder")),
            text_encoder_2=None,
        )
        if (root / "text_encoder_2").exists():
            cfg = CLIPTextConfig.from_pretrained(root, subfolder="text_encoder_2")
            pipe.text_encoder_2 = CLIPTextModelWithProjection(cfg)
    return pipe


# Names and shapes as found in the original released checkpoints.
REAL_KEYS = {
    "sd15": {
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight": (320, 640, 1, 1),
        "model.diffusion_model.input_blocks.3.0.op.weight": (320, 320, 3, 3),
        "model.diffusion_model.output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.output_blocks.8.2.conv.weight": (640, 640, 3, 3),
        "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight": (1280, 768),
        "model.diffusion_model.time_embed.2.weight": (1280, 1280),
        "first_stage_model.encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
        "first_stage_model.decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
        "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight": (768, 3072),
    },
    "sd2-v": {
        "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "model.diffusion_model.input_blocks.1.1.proj_in.weight": (320, 320),
        "cond_stage_model.model.transformer.resblocks.22.attn.in_proj_weight": (3072, 1024),
        "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight": (4096, 1024),
        "cond_stage_model.model.positional_embedding": (77, 1024),
        "cond_stage_model.model.ln_final.weight": (1024,),
    },
    "sdxl-base": {
        "model.diffusion_model.label_emb.0.0.weight": (1280, 2816),
        "model.diffusion_model.input_blocks.7.1.transformer_blocks.9.ff.net.2.weight": (1280, 5120),
        "model.diffusion_model.output_blocks.2.2.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.output_blocks.8.0.skip_connection.weight": (320, 640, 1, 1),
        "conditioner.embedders.0.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight": (
            768,
            768,
        ),
        "conditioner.embedders.1.model.transformer.resblocks.31.mlp.c_proj.bias": (1280,),
        "conditioner.embedders.1.model.text_projection": (1280, 1280),
    },
}


@pytest.mark.parametrize(
    ("name", "family", "diffusers_type"),
    [
        ("sd15", ModelFamily.SD1, "v1"),
        ("sd2-v", ModelFamily.SD2, "v2"),
        ("sdxl-base", ModelFamily.SDXL, "xl_base"),
    ],
)
def test_real_size_layout(name, family, diffusers_type):
    """On real sizes (meta tensors, no memory): original key names, and diffusers reads them back."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        infer_diffusers_model_type,
    )

    pipe = _meta_pipeline(name)
    ldm = pipeline_to_ldm(pipe, family)
    for key, shape in REAL_KEYS[name].items():
        assert key in ldm, key
        assert tuple(ldm[key].shape) == shape, key
    assert infer_diffusers_model_type(ldm) == diffusers_type
    unet = convert_ldm_unet_checkpoint(ldm, dict(pipe.unet.config))
    assert {k: tuple(v.shape) for k, v in unet.items()} == {
        k: tuple(v.shape) for k, v in pipe.unet.state_dict().items()
    }
    vae = convert_ldm_vae_checkpoint(ldm, dict(pipe.vae.config))
    assert {k: tuple(v.shape) for k, v in vae.items()} == {
        k: tuple(v.shape) for k, v in pipe.vae.state_dict().items()
    }
