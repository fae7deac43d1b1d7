"""Where each diffusers UNet module sits in the original (LDM / sgm) layout, derived from the UNet config.

The original layout numbers blocks flatly (``input_blocks.N``, ``middle_block.N``,
``output_blocks.N``) with the sub-module slot after the number (``.0`` resnet, ``.1`` attention,
``.2`` upsampler), and renames the resnet layers (``conv1`` -> ``in_layers.2`` …). The same table
serves the single-file writer (``ldm_format.unet_to_ldm``) and the kohya SDXL LoRA names
(``formats.lora_keys``): sd-scripts trains SDXL on a UNet with these original names. Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from lora_studio.core import paths

RESNET_RENAMES: dict[str, str] = {  # diffusers ResnetBlock2D -> LDM ResBlock
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}
_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}


def unet_ldm_table(config: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``(table, inner)``: diffusers module prefix -> LDM prefix (both ending in "."), and for the
    resnet prefixes the renames of the layers inside them."""
    layers = config["layers_per_block"]
    if not isinstance(layers, int):
        raise ValueError("per-block layers_per_block lists have no LDM layout")
    table = dict(_UNET_TOP)
    inner: dict[str, dict[str, str]] = {}
    for b in range(len(config["down_block_types"])):
        for j in range(layers):
            idx = 1 + b * (layers + 1) + j
            table[f"down_blocks.{b}.resnets.{j}."] = f"input_blocks.{idx}.0."
            inner[f"down_blocks.{b}.resnets.{j}."] = RESNET_RENAMES
            table[f"down_blocks.{b}.attentions.{j}."] = f"input_blocks.{idx}.1."
        table[f"down_blocks.{b}.downsamplers.0.conv."] = f"input_blocks.{1 + b * (layers + 1) + layers}.0.op."
    for j in range(2):
        table[f"mid_block.resnets.{j}."] = f"middle_block.{2 * j}."
        inner[f"mid_block.resnets.{j}."] = RESNET_RENAMES
    table["mid_block.attentions.0."] = "middle_block.1."
    for b, kind in enumerate(config["up_block_types"]):
        for j in range(layers + 1):
            idx = b * (layers + 1) + j
            table[f"up_blocks.{b}.resnets.{j}."] = f"output_blocks.{idx}.0."
            inner[f"up_blocks.{b}.resnets.{j}."] = RESNET_RENAMES
            table[f"up_blocks.{b}.attentions.{j}."] = f"output_blocks.{idx}.1."
        # The upsampler follows the last layer's attention when the block has one.
        slot = 2 if kind.startswith("CrossAttn") else 1
        table[f"up_blocks.{b}.upsamplers.0.conv."] = f"output_blocks.{b * (layers + 1) + layers}.{slot}.conv."
    return table, inner


def _rename(path: str, table: Mapping[str, str], inner: Mapping[str, Mapping[str, str]]) -> str | None:
    key = path + "."
    src = max((p for p in table if key.startswith(p)), key=len, default=None)
    if src is None:
        return None
    rest = key[len(src) :]
    for old, new in inner.get(src, {}).items():
        if rest.startswith(old):
            rest = new + rest[len(old) :]
            break
    return (table[src] + rest).rstrip(".")


def diffusers_to_ldm_path(path: str, config: Mapping[str, Any]) -> str:
    """A diffusers UNet module path in the original layout, e.g.
    ``down_blocks.1.attentions.0.proj_in`` -> ``input_blocks.4.1.proj_in`` (SDXL)."""
    table, inner = _tables(_freeze(config))
    out = _rename(path, table, inner)
    if out is None:
        raise ValueError(f"UNet module {path!r} has no place in the original layout")
    return out


def ldm_to_diffusers_path(path: str, config: Mapping[str, Any]) -> str:
    """The inverse of :func:`diffusers_to_ldm_path`."""
    table, inner = _tables(_freeze(config))
    back = {v: k for k, v in table.items()}
    back_inner = {table[k]: {v: o for o, v in renames.items()} for k, renames in inner.items()}
    out = _rename(path, back, back_inner)
    if out is None:
        raise ValueError(f"{path!r} is not a module of the original UNet layout")
    return out


def ldm_prefixes(config: Mapping[str, Any]) -> tuple[str, ...]:
    """Every LDM block prefix of this UNet (``input_blocks.4.1.`` …), longest first."""
    table, _ = _tables(_freeze(config))
    return tuple(sorted(table.values(), key=len, reverse=True))


def _freeze(config: Mapping[str, Any]) -> tuple[Any, ...]:
    keys = ("layers_per_block", "down_block_types", "up_block_types")
    return tuple((k, tuple(config[k]) if isinstance(config[k], list | tuple) else config[k]) for k in keys)


@cache
def _tables(frozen: tuple[Any, ...]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    return unet_ldm_table({k: list(v) if isinstance(v, tuple) else v for k, v in frozen})


@cache
def _bundled_unet_text(name: str) -> str:
    return paths.resource("model_configs", name, "unet", "config.json").read_text("utf-8")


def bundled_unet_config(name: str = "sdxl-base") -> dict[str, Any]:
    """The UNet config of a bundled model (``sd15``, ``sd2``, ``sd2-v``, ``sdxl-base``)."""
    return json.loads(_bundled_unet_text(name))
