"""Write a diffusers pipeline as one checkpoint file in the original (LDM / "single file") key layout.

That is the layout of the files people download and use in AUTOMATIC1111, ComfyUI, Forge and
kohya: ``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE), and the text encoder(s)
under ``cond_stage_model.*`` (SD 1.x/2.x) or ``conditioner.embedders.{0,1}.*`` (SDXL).
Block numbers are derived from the component configs, so tiny and real models go the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.core.fileio import atomic_write_with
from lora_studio.diffusion.configs import tokenizer_pads
from lora_studio.diffusion.families import EMBEDDED_CONFIG_KEY
from lora_studio.formats.unet_layout import unet_ldm_table

Tensors = dict[str, torch.Tensor]

_VAE_ATTN_RENAMES = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}
_OPENCLIP_LAYER_RENAMES = {
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
    "self_attn.out_proj.": "attn.out_proj.",
}


def _map_keys(state: Tensors, table: dict[str, str], inner: dict[str, dict[str, str]], what: str) -> Tensors:
    """Rename every key by its longest matching prefix; fail loudly on a key we do not know."""
    out: Tensors = {}
    prefixes = sorted(table, key=len, reverse=True)
    for key, value in state.items():
        src = next((p for p in prefixes if key.startswith(p)), None)
        if src is None:
            raise ValueError(f"{what}: no LDM name for weight {key!r}")
        rest = key[len(src) :]
        for old, new in inner.get(src, {}).items():
            if rest.startswith(old):
                rest = new + rest[len(old) :]
                break
        out[table[src] + rest] = value
    return out


def unet_to_ldm(state: Tensors, config: dict[str, Any]) -> Tensors:
    """UNet2DConditionModel weights -> ``model.diffusion_model.*`` names."""
    table, inner = unet_ldm_table(config)
    mapped = _map_keys(state, table, inner, "UNet")
    return {"model.diffusion_model." + k: v for k, v in mapped.items()}


def vae_to_ldm(state: Tensors, config: dict[str, Any]) -> Tensors:
    """AutoencoderKL weights -> ``first_stage_model.*`` names (decoder levels are numbered reversed)."""
    table = {
        "encoder.conv_in.": "encoder.conv_in.",
        "encoder.conv_out.": "encoder.conv_out.",
        "encoder.conv_norm_out.": "encoder.norm_out.",
        "decoder.conv_in.": "decoder.conv_in.",
        "decoder.conv_out.": "decoder.conv_out.",
        "decoder.conv_norm_out.": "decoder.norm_out.",
        "quant_conv.": "quant_conv.",
        "post_quant_conv.": "post_quant_conv.",
    }
    inner: dict[str, dict[str, str]] = {}
    resnet = {"conv_shortcut.": "nin_shortcut."}
    n = len(config["down_block_types"])
    for i in range(n):
        table[f"encoder.down_blocks.{i}.resnets."] = f"encoder.down.{i}.block."
        table[f"encoder.down_blocks.{i}.downsamplers.0.conv."] = f"encoder.down.{i}.downsample.conv."
        table[f"decoder.up_blocks.{i}.resnets."] = f"decoder.up.{n - 1 - i}.block."
        table[f"decoder.up_blocks.{i}.upsamplers.0.conv."] = f"decoder.up.{n - 1 - i}.upsample.conv."
    for part in ("encoder", "decoder"):
        for j in range(2):
            table[f"{part}.mid_block.resnets.{j}."] = f"{part}.mid.block_{j + 1}."
        table[f"{part}.mid_block.attentions.0."] = f"{part}.mid.attn_1."
        inner[f"{part}.mid_block.attentions.0."] = _VAE_ATTN_RENAMES
    # ".resnets.N.conv_shortcut." needs the rename after the block number, so do it afterwards.
    mapped = _map_keys(state, table, inner, "VAE")
    out: Tensors = {}
    for key, value in mapped.items():
        for old, new in resnet.items():
            key = key.replace("." + old, "." + new)
        if ".mid.attn_1." in key and key.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the LDM VAE attention uses 1x1 convolutions
        out["first_stage_model." + key] = value
    return out


def clip_to_ldm(state: Tensors, prefix: str) -> Tensors:
    """A transformers CLIP text model in OpenAI layout (SD 1.x, SDXL TE1) -> ``<prefix>text_model.*``."""
    out: Tensors = {}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        # transformers >= 5.6 dropped the ".text_model" wrapper; original checkpoints have it.
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = value
    return out


def openclip_to_ldm(state: Tensors, prefix: str, hidden: int) -> Tensors:
    """A CLIP text model -> OpenCLIP names (SD 2.x, SDXL TE2): fused q/k/v, ``resblocks``, projection."""
    src = {k.removeprefix("text_model."): v for k, v in state.items() if not k.endswith("position_ids")}
    out: Tensors = {}
    top = {
        "embeddings.token_embedding.weight": "token_embedding.weight",
        "embeddings.position_embedding.weight": "positional_embedding",
        "final_layer_norm.weight": "ln_final.weight",
        "final_layer_norm.bias": "ln_final.bias",
    }
    for key, value in src.items():
        if key in top:
            out[prefix + top[key]] = value
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()  # OpenCLIP multiplies x @ proj
        elif key.startswith("encoder.layers."):
            layer, rest = key[len("encoder.layers.") :].split(".", 1)
            base = f"{prefix}transformer.resblocks.{layer}."
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                continue  # fused below
            for old, new in _OPENCLIP_LAYER_RENAMES.items():
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
                    break
            else:
                raise ValueError(f"OpenCLIP: no LDM name for weight {key!r}")
            out[base + rest] = value
        else:
            raise ValueError(f"OpenCLIP: no LDM name for weight {key!r}")
    layers = {int(k.split(".")[2]) for k in src if k.startswith("encoder.layers.")}
    for i in sorted(layers):
        for kind in ("weight", "bias"):
            parts = [src[f"encoder.layers.{i}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
            out[f"{prefix}transformer.resblocks.{i}.attn.in_proj_{kind}"] = torch.cat(parts, 0)
    if prefix + "text_projection" not in out:
        # SD 2.x never uses the pooled output, but other tools expect the tensor: identity is harmless.
        out[prefix + "text_projection"] = torch.eye(hidden, dtype=out[prefix + "ln_final.weight"].dtype)
    return out


def pipeline_family(pipeline: Any) -> ModelFamily:
    """SDXL if it has a second text encoder; SD 2.x if the text encoder is 1024 wide or uses gelu."""
    if getattr(pipeline, "text_encoder_2", None) is not None:
        return ModelFamily.SDXL
    cfg = pipeline.text_encoder.config
    return ModelFamily.SD2 if cfg.hidden_size == 1024 or cfg.pad_token_id == 0 else ModelFamily.SD1


def pipeline_to_ldm(pipeline: Any, family: ModelFamily | str | None = None) -> Tensors:
    """Every weight of a diffusers SD/SDXL pipeline, renamed to the original single-file layout."""
    family = ModelFamily(family) if family else pipeline_family(pipeline)
    out = unet_to_ldm(pipeline.unet.state_dict(), dict(pipeline.unet.config))
    out.update(vae_to_ldm(pipeline.vae.state_dict(), dict(pipeline.vae.config)))
    te = pipeline.text_encoder.state_dict()
    if family == ModelFamily.SD1:
        out.update(clip_to_ldm(te, "cond_stage_model.transformer."))
    elif family == ModelFamily.SD2:
        out.update(openclip_to_ldm(te, "cond_stage_model.model.", pipeline.text_encoder.config.hidden_size))
    else:
        out.update(clip_to_ldm(te, "conditioner.embedders.0.transformer."))
        te2 = pipeline.text_encoder_2
        out.update(
            openclip_to_ldm(te2.state_dict(), "conditioner.embedders.1.model.", te2.config.hidden_size)
        )
    return out


def pipeline_configs(pipeline: Any, family: ModelFamily | str | None = None) -> dict[str, Any]:
    """The component configs of a pipeline as plain JSON data (what ``embed_config`` stores)."""
    family = ModelFamily(family) if family else pipeline_family(pipeline)
    out: dict[str, Any] = {"format": 1, "family": str(family), "tokenizer_pads": tokenizer_pads(family)}
    for name in ("unet", "vae", "scheduler"):
        out[name] = json.loads(json.dumps(dict(getattr(pipeline, name).config), default=list))
    for name in ("text_encoder", "text_encoder_2"):
        model = getattr(pipeline, name, None)
        if model is not None:
            out[name] = json.loads(model.config.to_json_string())
    return out


def save_single_file(
    pipeline: Any,
    path: str | Path,
    *,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
    embed_config: bool = False,
    family: ModelFamily | str | None = None,
) -> Path:
    """Write ``pipeline`` as one ``.safetensors`` checkpoint in LDM layout, atomically.

    ``embed_config`` stores every component config in the metadata, so that a model with a
    non-standard architecture (our tiny models) loads through the same single-file path.
    """
    from safetensors.torch import save_file

    family = ModelFamily(family) if family else pipeline_family(pipeline)
    tensors = {}
    for key, value in pipeline_to_ldm(pipeline, family).items():
        value = value.detach()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.to("cpu").contiguous()
    meta = dict(metadata or {})
    prediction = pipeline.scheduler.config.get("prediction_type", "epsilon")
    meta.setdefault("modelspec.prediction_type", "v" if prediction == Prediction.V else "epsilon")
    if embed_config:
        meta[EMBEDDED_CONFIG_KEY] = json.dumps(pipeline_configs(pipeline, family))
    path = Path(path)
    atomic_write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    return path
