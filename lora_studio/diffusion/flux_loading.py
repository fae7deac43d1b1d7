"""Load a FLUX.1 model offline: a BFL transformer file with its component files, an all-in-one file,
or a diffusers folder, into a diffusers ``FluxPipeline``.

Every component is built on the meta device from a config (the bundled FLUX.1-dev / schnell
configs, or the configs a file carries in its metadata, as our tiny models do) and gets the file's
tensors assigned, converted from the users' key layout (:mod:`lora_studio.diffusion.flux_format`).
No hub, no ``from_single_file`` (whose FLUX converter assumes the full-size width).

fp8 files (``float8_e4m3fn``): the weights are upcast to the compute dtype while loading, so the
pipeline computes as usual. Training with ``BaseWeights.FP8`` (``memory.store_base_weights``)
stores the transformer in fp8 again afterwards; since fp8 -> bf16/fp32 -> fp8 is exact, that gives
back the file's own fp8 weights. Loading happens on the CPU, so the upcast copy lives in system
memory, never on the card, before it is moved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import Event, StatusChanged
from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.configs import bundled_configs, config_name
from lora_studio.diffusion.families import DetectedModel, embedded_config
from lora_studio.diffusion.flux_components import resolve_components
from lora_studio.diffusion.flux_detect import PART_FILES, PART_LABELS, PART_PREFIXES, FluxFacts, flux_facts
from lora_studio.diffusion.flux_format import (
    clip_from_comfy,
    read_prefixed,
    t5_from_comfy,
    transformer_from_bfl,
    unscale_fp8,
    vae_from_bfl,
)
from lora_studio.formats.safetensors_meta import SafetensorsHeader, read_header

log = logging.getLogger(__name__)
Reporter = Callable[[Event], None]
# Component (our name) -> pipeline attribute / config key.
PIPE_NAMES = {"transformer": "transformer", "clip_l": "text_encoder", "t5xxl": "text_encoder_2", "ae": "vae"}


def load_flux_single_file(
    path: Path,
    header: SafetensorsHeader,
    detected: DetectedModel,
    torch_dtype: torch.dtype,
    report: Reporter,
    overrides: Mapping[str, str | Path | None] | None = None,
) -> tuple[Any, dict[str, Path]]:
    """A FluxPipeline from a BFL transformer file or an all-in-one file, plus the files it came from."""
    facts = flux_facts(header)
    assert facts is not None  # detect_model said FLUX
    found = resolve_components(path, facts, overrides)
    sources: dict[str, Path] = {"transformer": path}
    sources.update({part: (p if p is not None else path) for part, p in found.items()})
    headers = {part: (header if src == path else read_header(src)) for part, src in sources.items()}
    configs = _configs(detected.variant, headers)
    models: dict[str, Any] = {}
    for part, src in sources.items():
        report(StatusChanged(f"Loading the {PART_LABELS[part]} from {src.name}…"))
        models[part] = _load_part(part, src, facts if src == path else None, configs, torch_dtype)
    return _assemble(models, configs["scheduler"]), sources


def load_flux_folder(root: Path, torch_dtype: torch.dtype) -> Any:
    """A FluxPipeline from a diffusers folder (its own configs and tokenizers), safetensors only."""
    from diffusers import FluxPipeline

    return FluxPipeline.from_pretrained(
        str(root), local_files_only=True, dtype=torch_dtype, use_safetensors=True
    )


def _configs(variant: str, headers: Mapping[str, SafetensorsHeader]) -> dict[str, Any]:
    """The bundled configs of the variant, with each part's own config where its file carries one."""
    configs = dict(bundled_configs(config_name(ModelFamily.FLUX, variant=variant or "dev")))
    for part, header in headers.items():
        own = embedded_config(header) or {}
        key = PIPE_NAMES[part]
        if isinstance(own.get(key), dict):
            configs[key] = own[key]
    return configs


def _tensors(part: str, src: Path, facts: FluxFacts | None) -> dict[str, torch.Tensor]:
    if part == "transformer":
        prefix = facts.prefix if facts is not None else ""
        return read_prefixed(src, (prefix,))
    header = read_header(src)
    own = flux_facts(header)
    if own is not None:  # the part comes from an all-in-one file
        return read_prefixed(src, PART_PREFIXES[part])
    return read_prefixed(src, ("",))


def _load_part(
    part: str, src: Path, facts: FluxFacts | None, configs: dict[str, Any], dtype: torch.dtype
) -> Any:
    from accelerate import init_empty_weights

    cfg = configs[PIPE_NAMES[part]]
    state = unscale_fp8(_tensors(part, src, facts), dtype)
    with init_empty_weights():
        model = _empty_model(part, cfg)
    try:
        if part == "transformer":
            state = transformer_from_bfl(state, cfg)
        elif part == "clip_l":
            state = clip_from_comfy(state, set(model.state_dict()))
        elif part == "t5xxl":
            state = t5_from_comfy(state)
        else:
            state = vae_from_bfl(state, cfg)
    except KeyError as exc:
        raise _incomplete(part, src, str(exc).strip("'\"")) from None
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as exc:
        if "size mismatch" not in str(exc):
            raise
        raise ModelLoadError(
            f'"{src.name}" does not match the {PART_LABELS[part]} of FLUX.1: its weights have other sizes.',
            hint=f"Choose the {PART_LABELS[part]} made for FLUX.1 ({PART_FILES.get(part, 'the model file')}).",
            details=str(exc)[:2000],
        ) from None
    missing = [k for k in result.missing_keys if _is_meta(model, k)]
    if missing:
        raise _incomplete(part, src, missing[0])
    if result.unexpected_keys:
        log.info(
            "%s: %d weights not used, e.g. %s",
            src.name,
            len(result.unexpected_keys),
            result.unexpected_keys[:3],
        )
    if part == "t5xxl" and hasattr(model, "tie_weights"):
        model.tie_weights()
    return model.eval()


def _is_meta(model: torch.nn.Module, key: str) -> bool:
    """A weight the file did not fill (left on the meta device)."""
    try:
        return model.get_parameter(key).device.type == "meta"
    except AttributeError:
        try:
            return model.get_buffer(key).device.type == "meta"
        except AttributeError:
            return True


def _incomplete(part: str, src: Path, key: str) -> ModelLoadError:
    return ModelLoadError(
        f'"{src.name}" is missing weights of the {PART_LABELS[part]} (for example "{key}").',
        hint="The file is incomplete or made for a different model. Download it again.",
        details=f"{src}: {key}",
    )


def _empty_model(part: str, cfg: dict[str, Any]) -> Any:
    if part == "transformer":
        from diffusers import FluxTransformer2DModel

        return FluxTransformer2DModel.from_config(cfg)
    if part == "ae":
        from diffusers import AutoencoderKL

        return AutoencoderKL.from_config(cfg)
    if part == "clip_l":
        from transformers import CLIPTextConfig, CLIPTextModel

        return CLIPTextModel(CLIPTextConfig(**_plain(cfg)))
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(**_plain(cfg)))


def _plain(cfg: dict[str, Any]) -> dict[str, Any]:
    """A transformers config dict without the bookkeeping keys a saved config.json carries."""
    drop = {"architectures", "model_type", "transformers_version", "_name_or_path", "torch_dtype", "dtype"}
    return {k: v for k, v in cfg.items() if k not in drop}


def _assemble(models: dict[str, Any], scheduler_config: dict[str, Any]) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    from lora_studio.diffusion.t5_tokenizer import load_t5_tokenizer
    from lora_studio.diffusion.tokenizer import SD1_PAD, load_clip_tokenizer

    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_config(scheduler_config),
        vae=models["ae"],
        text_encoder=models["clip_l"],
        tokenizer=load_clip_tokenizer(SD1_PAD),
        text_encoder_2=models["t5xxl"],
        tokenizer_2=load_t5_tokenizer(),
        transformer=models["transformer"],
    )
