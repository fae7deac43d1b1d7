"""FLUX.1 weights in the layouts of the files people download, and back.

* Transformer: Black Forest Labs' names (``double_blocks.*``, ``single_blocks.*``, ``img_in`` …, as in
  ``flux1-dev.safetensors``), converted with the table of :mod:`lora_studio.formats.flux_layout`.
  Ours rather than diffusers' ``convert_flux_transformer_checkpoint_to_diffusers``: that one assumes
  the full-size width (3072) when it splits the single blocks, so it cannot read a smaller model.
* CLIP-L and T5-XXL: ComfyUI's component files (``clip_l.safetensors``: ``text_model.*``;
  ``t5xxl_fp16.safetensors``: ``shared.weight``, ``encoder.*``) are transformers' own names.
* Autoencoder: ``ae.safetensors`` holds the original (LDM) VAE names without a prefix.
* All-in-one files put these under ``model.diffusion_model.``, ``text_encoders.clip_l.transformer.``,
  ``text_encoders.t5xxl.transformer.`` and ``vae.``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lora_studio.diffusion.ldm_format import clip_to_ldm, vae_to_ldm
from lora_studio.formats.flux_layout import BFL_PARAM_RENAMES, FluxDims, bfl_modules

Tensors = dict[str, torch.Tensor]

TRANSFORMER_PREFIX = "model.diffusion_model."
CLIP_PREFIX = "text_encoders.clip_l.transformer."
T5_PREFIX = "text_encoders.t5xxl.transformer."
VAE_PREFIX = "vae."
_CLIP_EXTRAS = ("text_projection.weight", "logit_scale", "text_model.embeddings.position_ids")


def transformer_to_bfl(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """FluxTransformer2DModel weights -> BFL names (fused qkv / linear1 rebuilt row by row)."""
    dims = FluxDims.from_config(config)
    out: Tensors = {}
    used: set[str] = set()
    for bfl, segments in bfl_modules(dims).items():
        for param in ("weight", "bias"):
            parts = []
            for name, start, stop in segments:
                key = f"{name}.{param}"
                if key not in state:
                    break
                used.add(key)
                parts.append(state[key] if start is None else state[key][start:stop])
            else:
                bfl_param = "scale" if bfl.endswith("_norm") else param
                out[f"{bfl}.{bfl_param}"] = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
    left = sorted(set(state) - used)
    if left:
        raise ValueError(f"FLUX transformer: no BFL name for weights {left[:5]}")
    return out


def transformer_from_bfl(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """BFL-named transformer weights (no prefix) -> FluxTransformer2DModel names.

    Raises ``KeyError`` naming the first BFL weight the file lacks.
    """
    dims = FluxDims.from_config(config)
    out: Tensors = {}
    pending: dict[str, list[tuple[int, int, torch.Tensor]]] = {}
    for bfl, segments in bfl_modules(dims).items():
        for param in ("weight", "bias", "scale"):
            key = f"{bfl}.{param}"
            if key not in state:
                continue
            tensor = state[key]
            dparam = BFL_PARAM_RENAMES.get(param, param)
            if len(segments) == 1 and segments[0][1] is None:
                out[f"{segments[0][0]}.{dparam}"] = tensor
                continue
            # Fused module: equal parts unless the segments say their rows (or one is the MLP).
            sizes = _segment_sizes(segments, tensor.shape[0], dims)
            offset = 0
            for (name, start, _stop), size in zip(segments, sizes, strict=True):
                piece = tensor[offset : offset + size]
                offset += size
                if start is None:
                    out[f"{name}.{dparam}"] = piece
                else:
                    pending.setdefault(f"{name}.{dparam}", []).append((start, size, piece))
        if not any(f"{bfl}.{p}" in state for p in ("weight", "scale")):
            raise KeyError(f"{bfl}.weight")
    for key, pieces in pending.items():
        rows = sum(size for _s, size, _p in pieces)
        first = pieces[0][2]
        whole = first.new_empty((rows, *first.shape[1:]))
        for start, size, piece in pieces:
            whole[start : start + size] = piece
        out[key] = whole
    return out


def _segment_sizes(
    segments: list[tuple[str, int | None, int | None]], rows: int, dims: FluxDims
) -> list[int]:
    sizes = []
    for name, start, stop in segments:
        if start is not None and stop is not None:
            sizes.append(stop - start)
        elif name.endswith("proj_mlp"):
            sizes.append(dims.mlp_dim)
        else:
            sizes.append(dims.inner_dim)
    if sum(sizes) != rows:
        raise ValueError(f"FLUX transformer: a fused weight has {rows} rows, expected {sum(sizes)}")
    return sizes


def clip_to_comfy(state: Mapping[str, torch.Tensor]) -> Tensors:
    """CLIPTextModel weights -> ``text_model.*`` (ComfyUI's ``clip_l.safetensors`` names)."""
    return clip_to_ldm(dict(state), "")


def clip_from_comfy(state: Mapping[str, torch.Tensor], model_keys: set[str]) -> Tensors:
    """``clip_l.safetensors`` weights -> the names of this transformers version's CLIPTextModel."""
    out: Tensors = {}
    for key, value in state.items():
        if key in _CLIP_EXTRAS or key.endswith("position_ids"):
            continue  # the projection (CLIPTextModelWithProjection) and buffers FLUX does not use
        if (
            key not in model_keys
            and key.startswith("text_model.")
            and key[len("text_model.") :] in model_keys
        ):
            key = key[len("text_model.") :]
        out[key] = value
    return out


def t5_to_comfy(state: Mapping[str, torch.Tensor]) -> Tensors:
    """T5EncoderModel weights as ComfyUI writes ``t5xxl_*.safetensors``: the tied copy left out."""
    return {k: v for k, v in state.items() if k != "encoder.embed_tokens.weight"}


def t5_from_comfy(state: Mapping[str, torch.Tensor]) -> Tensors:
    out = dict(state)
    if "encoder.embed_tokens.weight" not in out and "shared.weight" in out:
        out["encoder.embed_tokens.weight"] = out["shared.weight"]  # tied in T5
    return out


def vae_to_bfl(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """AutoencoderKL weights -> ``ae.safetensors`` names (LDM names, no prefix, no quant convs)."""
    ldm = vae_to_ldm(dict(state), dict(config))
    return {k[len("first_stage_model.") :]: v for k, v in ldm.items()}


def vae_from_bfl(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """``ae.safetensors`` weights -> AutoencoderKL names (diffusers' own LDM VAE converter)."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    return convert_ldm_vae_checkpoint(dict(state), dict(config))


def split_prefixed(state: Mapping[str, torch.Tensor], prefix: str) -> Tensors:
    """The tensors under ``prefix``, with the prefix removed."""
    n = len(prefix)
    return {k[n:]: v for k, v in state.items() if k.startswith(prefix)}


# -- reading -----------------------------------------------------------------------------------


def read_prefixed(path: str | Path, prefixes: tuple[str, ...]) -> Tensors:
    """The tensors of ``path`` under the first of ``prefixes`` that the file uses, prefix removed."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        keys = list(fh.keys())  # noqa: SIM118  # safe_open handles are not iterable
        prefix = next((p for p in prefixes if any(k.startswith(p) for k in keys)), None)
        if prefix is None:
            return {}
        return {k[len(prefix) :]: fh.get_tensor(k) for k in keys if k.startswith(prefix)}


def unscale_fp8(state: Tensors, dtype: torch.dtype) -> Tensors:
    """Weights in ``dtype``, emptying ``state``. ComfyUI's "scaled fp8" files keep ``X.scale_weight``
    beside each fp8 ``X.weight`` (real weight = stored x scale); those scales are applied and dropped."""
    out: Tensors = {}
    # One tensor at a time leaves ``state`` (the caller's copy goes with it), so converting an fp8
    # file never holds both the whole fp8 and the whole upcast copy.
    for key in [k for k in state if not k.endswith((".scale_weight", ".scale_input"))]:
        value = state.pop(key)
        if key == "scaled_fp8":
            continue
        if value.is_floating_point():
            scale = state.get(key[: -len(".weight")] + ".scale_weight") if key.endswith(".weight") else None
            value = value.to(torch.float32) * scale.to(torch.float32) if scale is not None else value
            value = value.to(dtype)
        out[key] = value
    return out


# -- writing -----------------------------------------------------------------------------------


def _embedded(part_configs: Mapping[str, Any]) -> dict[str, str]:
    import json

    from lora_studio.diffusion.families import EMBEDDED_CONFIG_KEY

    payload = {"format": 1, "family": "flux", **part_configs}
    return {EMBEDDED_CONFIG_KEY: json.dumps(payload, default=list)}


def _config_of(model: Any) -> dict[str, Any]:
    import json

    cfg = model.config
    if hasattr(cfg, "to_json_string"):  # a transformers config
        return json.loads(cfg.to_json_string())
    return json.loads(json.dumps(dict(cfg), default=list))


def to_fp8(state: Mapping[str, torch.Tensor]) -> Tensors:
    """The matrices (2-D and up) in float8_e4m3fn, biases and norm scales as they are (fp8 files'
    usual split)."""
    return {k: v.to(torch.float8_e4m3fn) if v.ndim >= 2 else v for k, v in state.items()}


def flux_file_tensors(
    pipeline: Any,
    parts: tuple[str, ...],
    *,
    all_in_one: bool,
    dtypes: Mapping[str, torch.dtype] | None = None,
) -> Tensors:
    """The tensors of a FLUX pipeline's ``parts`` under the names its single files use, each part in
    its dtype from ``dtypes`` (kept as it is where none is given)."""
    out: Tensors = {}
    for part in parts:
        model = getattr(pipeline, _PART_MODELS[part])
        state = model.state_dict()
        if part == "transformer":
            named, prefix = transformer_to_bfl(state, model.config), TRANSFORMER_PREFIX
        elif part == "clip_l":
            named, prefix = clip_to_comfy(state), CLIP_PREFIX
        elif part == "t5xxl":
            named, prefix = t5_to_comfy(state), T5_PREFIX
        else:
            named, prefix = vae_to_bfl(state, model.config), VAE_PREFIX
        dtype = (dtypes or {}).get(part)
        for key, value in named.items():
            value = value.detach().to("cpu")
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            out[(prefix if all_in_one else "") + key] = value
    return out


_PART_MODELS = {
    "transformer": "transformer",
    "clip_l": "text_encoder",
    "t5xxl": "text_encoder_2",
    "ae": "vae",
}


def save_flux_file(
    pipeline: Any,
    path: str | Path,
    parts: tuple[str, ...],
    *,
    all_in_one: bool = False,
    dtype: torch.dtype | Mapping[str, torch.dtype] | None = None,
    fp8: bool = False,
    embed_config: bool = False,
) -> Path:
    """Write some parts of a FLUX pipeline as one ``.safetensors`` file in the users' layout, atomically.

    ``dtype``: one for all parts, or one per part (``{"t5xxl": torch.float16, …}``).
    ``fp8``: matrices stored as float8_e4m3fn (as in ``flux1-dev-fp8.safetensors``).
    ``embed_config``: each part's config in the metadata, so a non-standard size (our tiny models)
    loads through the same path as the real files, which use the bundled configs.
    """
    from safetensors.torch import save_file

    from lora_studio.core.fileio import atomic_write_with

    dtypes = dtype if isinstance(dtype, Mapping) else {p: dtype for p in parts if dtype is not None}
    tensors = flux_file_tensors(pipeline, parts, all_in_one=all_in_one, dtypes=dtypes)
    if fp8:
        tensors = to_fp8(tensors)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    meta: dict[str, str] = {}
    if embed_config:
        configs = {_PART_MODELS[p]: _config_of(getattr(pipeline, _PART_MODELS[p])) for p in parts}
        meta.update(_embedded(configs))
    path = Path(path)
    atomic_write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    return path
