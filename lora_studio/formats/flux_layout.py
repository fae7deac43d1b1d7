"""Where each FLUX.1 transformer weight sits in the original Black Forest Labs layout and in diffusers'.

The files people download (``flux1-dev.safetensors``, ComfyUI's all-in-one files, kohya's FLUX
LoRAs) name the transformer's modules as BFL's reference code does: ``double_blocks.N.img_attn.qkv``
holds the query, key and value of a double-stream block in one fused Linear, and
``single_blocks.N.linear1`` holds query, key, value and the MLP input of a single-stream block.
diffusers' ``FluxTransformer2DModel`` splits those into ``attn.to_q`` / ``to_k`` / ``to_v`` (and
``proj_mlp``). This module gives, for a transformer config, each BFL module as the list of diffusers
row ranges that make it up, concatenated in order. The same table serves the single-file writer and
reader (``diffusion.flux_format``) and LoRA key conversion. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A piece of a BFL module: rows [start, stop) of a diffusers module (None, None: all of it).
Segment = tuple[str, int | None, int | None]
BFL_PARAM_RENAMES = {"scale": "weight"}  # BFL's RMSNorm holds ``scale``; diffusers' holds ``weight``
MLP_RATIO = 4.0


@dataclass(frozen=True, slots=True)
class FluxDims:
    """What the key layout depends on: block counts, the model width, the MLP width, guidance."""

    num_layers: int
    num_single_layers: int
    inner_dim: int
    mlp_dim: int
    guidance: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FluxDims:
        inner = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
        return cls(
            num_layers=int(config["num_layers"]),
            num_single_layers=int(config["num_single_layers"]),
            inner_dim=inner,
            mlp_dim=int(inner * MLP_RATIO),
            guidance=bool(config.get("guidance_embeds", False)),
        )


def _whole(name: str) -> list[Segment]:
    return [(name, None, None)]


def bfl_modules(dims: FluxDims) -> dict[str, list[Segment]]:
    """BFL module name -> the diffusers pieces it is made of (rows concatenated in this order)."""
    d = dims.inner_dim
    table: dict[str, list[Segment]] = {
        "time_in.in_layer": _whole("time_text_embed.timestep_embedder.linear_1"),
        "time_in.out_layer": _whole("time_text_embed.timestep_embedder.linear_2"),
        "vector_in.in_layer": _whole("time_text_embed.text_embedder.linear_1"),
        "vector_in.out_layer": _whole("time_text_embed.text_embedder.linear_2"),
        "txt_in": _whole("context_embedder"),
        "img_in": _whole("x_embedder"),
        "final_layer.linear": _whole("proj_out"),
        # BFL's final modulation yields (shift, scale); diffusers' AdaLayerNormContinuous (scale, shift).
        "final_layer.adaLN_modulation.1": [("norm_out.linear", d, 2 * d), ("norm_out.linear", 0, d)],
    }
    if dims.guidance:
        table["guidance_in.in_layer"] = _whole("time_text_embed.guidance_embedder.linear_1")
        table["guidance_in.out_layer"] = _whole("time_text_embed.guidance_embedder.linear_2")
    for i in range(dims.num_layers):
        src, dst = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        table[src + "img_mod.lin"] = _whole(dst + "norm1.linear")
        table[src + "txt_mod.lin"] = _whole(dst + "norm1_context.linear")
        table[src + "img_attn.qkv"] = [
            (dst + "attn.to_q", None, None),
            (dst + "attn.to_k", None, None),
            (dst + "attn.to_v", None, None),
        ]
        table[src + "txt_attn.qkv"] = [
            (dst + "attn.add_q_proj", None, None),
            (dst + "attn.add_k_proj", None, None),
            (dst + "attn.add_v_proj", None, None),
        ]
        table[src + "img_attn.norm.query_norm"] = _whole(dst + "attn.norm_q")
        table[src + "img_attn.norm.key_norm"] = _whole(dst + "attn.norm_k")
        table[src + "txt_attn.norm.query_norm"] = _whole(dst + "attn.norm_added_q")
        table[src + "txt_attn.norm.key_norm"] = _whole(dst + "attn.norm_added_k")
        table[src + "img_attn.proj"] = _whole(dst + "attn.to_out.0")
        table[src + "txt_attn.proj"] = _whole(dst + "attn.to_add_out")
        table[src + "img_mlp.0"] = _whole(dst + "ff.net.0.proj")
        table[src + "img_mlp.2"] = _whole(dst + "ff.net.2")
        table[src + "txt_mlp.0"] = _whole(dst + "ff_context.net.0.proj")
        table[src + "txt_mlp.2"] = _whole(dst + "ff_context.net.2")
    for i in range(dims.num_single_layers):
        src, dst = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        table[src + "modulation.lin"] = _whole(dst + "norm.linear")
        table[src + "linear1"] = [
            (dst + "attn.to_q", None, None),
            (dst + "attn.to_k", None, None),
            (dst + "attn.to_v", None, None),
            (dst + "proj_mlp", None, None),
        ]
        table[src + "norm.query_norm"] = _whole(dst + "attn.norm_q")
        table[src + "norm.key_norm"] = _whole(dst + "attn.norm_k")
        table[src + "linear2"] = _whole(dst + "proj_out")
    return table


def diffusers_to_bfl_names(dims: FluxDims) -> dict[str, str]:
    """diffusers module -> the BFL module that holds it (several diffusers modules may share one)."""
    return {name: bfl for bfl, segments in bfl_modules(dims).items() for name, _s, _e in segments}
