"""LoRA tensor names: PEFT/diffusers module paths <-> kohya names, kohya export/import.

kohya names (the format A1111, ComfyUI, Forge and diffusers all read) are
``<prefix>_<module path with "." replaced by "_">`` with the prefix ``lora_unet``, ``lora_te``
(SD1/SD2 text encoder) or ``lora_te1``/``lora_te2`` (SDXL), and three tensors per module:
``<name>.lora_down.weight``, ``<name>.lora_up.weight`` and ``<name>.alpha`` (the trained alpha; the
strength is ``alpha / rank``).

transformers >= 5.6 flattened ``CLIPTextModel`` (no ``text_model.`` in its module paths), while the
other tools only match ``lora_te_text_model_encoder_…``; ``kohya_name`` puts ``text_model_`` back.
``CLIPTextModelWithProjection`` (SDXL's second encoder) still has ``text_model`` and is not doubled.

SDXL UNet modules are named in the original (sgm) layout, as sd-scripts names them and as the SDXL
LoRAs people share are: ``lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q``,
``lora_unet_middle_block_0_in_layers_2``, ``lora_unet_output_blocks_2_2_conv``. The block
numbers come from the UNet config (``diffusion.unet_layout``; the bundled SDXL config by default),
so tiny test models get consistent names too. Older LoRA Studio SDXL files used diffusers names
(``lora_unet_down_blocks_1_attentions_0_…``); every reader here accepts both.

Key classification lives in ``lora_classify``; its names are re-exported here for callers.
Torch is imported inside the functions that need it only.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily
from lora_studio.formats.lora_classify import LoraFormat, LoraKind, classify_lora_keys
from lora_studio.formats.unet_layout import (
    bundled_unet_config,
    diffusers_to_ldm_path,
    ldm_prefixes,
    ldm_to_diffusers_path,
)

# torch is never imported at module level here (not even for type checking: the import contracts
# count those too), so tensors and dtypes are typed with these aliases.
Tensor = Any  # a torch.Tensor
DType = Any  # a torch.dtype

__all__ = [
    "COMPONENTS",
    "AlphaFor",
    "Component",
    "LoraFormat",
    "LoraKind",
    "PeftLora",
    "classify_lora_keys",
    "is_sgm_unet_name",
    "kohya_name",
    "kohya_prefix",
    "kohya_to_peft",
    "load_kohya_lora",
    "module_resolver",
    "parse_kohya_name",
    "peft_to_kohya",
    "rename_sdxl_unet_keys",
    "save_kohya_lora",
    "write_kohya_file",
]

Component = Literal["unet", "text_encoder", "text_encoder_2"]
COMPONENTS: tuple[Component, ...] = ("unet", "text_encoder", "text_encoder_2")

UnetConfig = Mapping[str, Any]
AlphaFor = Callable[[str, str, int], float]
"""``alpha_for(component, module_path, rank) -> alpha`` gives the alpha a module was trained with."""

_TEXT_MODEL = "text_model."
# First path segments that sit inside CLIP's ``text_model`` wrapper.
_CLIP_INNER = ("encoder.", "embeddings.", "final_layer_norm")

# Identifiers with an underscore in diffusers UNet and CLIP module paths; used to turn a kohya name
# back into a dotted path ("down_blocks_0_attentions_0_proj_in" -> "down_blocks.0.attentions.0.proj_in").
_COMPOUNDS: frozenset[tuple[str, ...]] = frozenset(
    tuple(word.split("_"))
    for word in (
        "down_blocks up_blocks mid_block transformer_blocks to_q to_k to_v to_out proj_in proj_out "
        "time_emb_proj conv_shortcut conv_in conv_out conv_norm_out conv_act time_embedding linear_1 "
        "linear_2 add_embedding add_time_proj class_embedding encoder_hid_proj time_proj "
        "text_model self_attn q_proj k_proj v_proj out_proj layer_norm1 layer_norm2 final_layer_norm "
        "token_embedding position_embedding text_projection add_k_proj add_v_proj "
        "to_add_out norm_out in_layers out_layers emb_layers skip_connection"
    ).split()
)
_MAX_COMPOUND = max(len(c) for c in _COMPOUNDS)
# First words of original-layout (sgm) UNet names.
_SGM_STARTS = ("input_blocks_", "middle_block_", "output_blocks_", "time_embed_", "label_emb_", "out_")
SGM_UNET_PREFIXES = tuple("lora_unet_" + s for s in _SGM_STARTS[:3])


def _unet_config(unet_config: UnetConfig | None) -> UnetConfig:
    return unet_config if unet_config is not None else bundled_unet_config("sdxl-base")


def kohya_prefix(component: str, family: ModelFamily | str) -> str:
    """``lora_unet``, ``lora_te`` (SD1/SD2) or ``lora_te1``/``lora_te2`` (SDXL); FLUX.1's CLIP-L is
    ``lora_te1`` as sd-scripts names it (its transformer: ``flux_lora_keys``)."""
    family = ModelFamily(family)
    if component in ("unet", "transformer"):
        return "lora_unet"
    if component == "text_encoder":
        return "lora_te1" if family in (ModelFamily.SDXL, ModelFamily.FLUX) else "lora_te"
    if component == "text_encoder_2":
        if family != ModelFamily.SDXL:
            raise ValueError(f"{family.label} models have no second text encoder")
        return "lora_te2"
    raise ValueError(f"unknown model component {component!r}")


def kohya_name(
    component: str, module_path: str, family: ModelFamily | str, unet_config: UnetConfig | None = None
) -> str:
    """The kohya module name for a diffusers/transformers module path.

    SDXL UNet modules get their original-layout name (``unet_config`` gives the block numbers; the
    bundled SDXL config when not given). Raises ``ValueError`` for an SDXL UNet module that has no
    place in that layout.

    >>> kohya_name("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "sd1")
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q'
    >>> kohya_name("text_encoder", "encoder.layers.0.self_attn.q_proj", "sd1")
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj'
    >>> kohya_name("unet", "down_blocks.1.attentions.0.proj_in", "sdxl")
    'lora_unet_input_blocks_4_1_proj_in'
    """
    prefix = kohya_prefix(component, family)
    path = module_path
    if component == "unet" and ModelFamily(family) == ModelFamily.SDXL:
        path = diffusers_to_ldm_path(path, _unet_config(unet_config))
    if component != "unet" and path.startswith(_CLIP_INNER):
        path = _TEXT_MODEL + path
    return f"{prefix}_{path.replace('.', '_')}"


@cache
def _clip_text_model_is_flat() -> bool:
    """True when the installed transformers has no ``text_model`` wrapper in ``CLIPTextModel`` (>= 5.6)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts = version("transformers").split(".")
        major, minor = int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (PackageNotFoundError, ValueError, IndexError):
        return True
    return (major, minor) >= (5, 6)


def _dotted(body: str) -> str:
    tokens = body.split("_")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for n in range(min(_MAX_COMPOUND, len(tokens) - i), 0, -1):
            if n == 1 or tuple(tokens[i : i + n]) in _COMPOUNDS:
                out.append("_".join(tokens[i : i + n]))
                i += n
                break
    return ".".join(out)


_PREFIX_COMPONENTS: tuple[tuple[str, Component], ...] = (
    ("lora_unet_", "unet"),
    ("lora_te1_", "text_encoder"),
    ("lora_te2_", "text_encoder_2"),
    ("lora_te_", "text_encoder"),
)


def _sgm_path(body: str, unet_config: UnetConfig) -> str:
    """``input_blocks_4_1_transformer_blocks_0_attn1_to_q`` -> the diffusers module path."""
    for ldm in ldm_prefixes(unet_config):
        under = ldm.replace(".", "_")
        if (body + "_").startswith(under):
            rest = body[len(under) :]
            return ldm_to_diffusers_path(ldm + _dotted(rest) if rest else ldm.rstrip("."), unet_config)
    raise ValueError(f"{body!r} is not a module of this UNet's original layout")


def is_sgm_unet_name(name: str) -> bool:
    """Whether a kohya module name is an SDXL UNet name in the original (sgm) layout."""
    return name.startswith("lora_unet_") and name[len("lora_unet_") :].startswith(_SGM_STARTS)


def parse_kohya_name(
    name: str, *, flat_clip_text_model: bool | None = None, unet_config: UnetConfig | None = None
) -> tuple[Component, str]:
    """Split a kohya module name into ``(component, module path)``, the inverse of ``kohya_name``.

    For the first text encoder the ``text_model.`` prefix is dropped when the installed
    transformers' ``CLIPTextModel`` is flat (override with ``flat_clip_text_model``). SDXL UNet
    names in the original layout (``input_blocks_…``) are mapped with ``unet_config`` (default: the
    bundled SDXL config); diffusers-style UNet names are read as they are.
    """
    if is_sgm_unet_name(name):
        return "unet", _sgm_path(name[len("lora_unet_") :], _unet_config(unet_config))
    for prefix, comp in _PREFIX_COMPONENTS:
        if name.startswith(prefix):
            component, path = comp, _dotted(name[len(prefix) :])
            break
    else:
        raise ValueError(f"{name!r} is not a kohya LoRA module name")
    if component == "text_encoder":
        flat = _clip_text_model_is_flat() if flat_clip_text_model is None else flat_clip_text_model
        if flat and path.startswith(_TEXT_MODEL):
            path = path[len(_TEXT_MODEL) :]
        elif not flat and path.startswith(_CLIP_INNER):
            path = _TEXT_MODEL + path
    elif component == "text_encoder_2" and path.startswith(_CLIP_INNER):
        path = _TEXT_MODEL + path
    return component, path


def _split_peft_key(key: str) -> tuple[str, str]:
    """``a.b.lora_A.weight`` -> (``a.b``, ``A``); ``a.b.lora_A.<adapter>.weight`` is accepted too."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part in ("lora_A", "lora_B"):
            tail = parts[i + 1 :]
            if tail and tail[-1] == "weight" and len(tail) <= 2:
                return ".".join(parts[:i]), part[-1]
            break
    raise ValueError(
        f"Cannot export tensor {key!r}: only plain LoRA weights (lora_A/lora_B) can be written in "
        "the kohya format (no DoRA magnitudes, LoRA biases or other adapter types)."
    )


def peft_to_kohya(
    component_state_dicts: Mapping[str, Mapping[str, Tensor]],
    *,
    family: ModelFamily | str,
    alpha_for: AlphaFor,
    dtype: DType | None = None,
    unet_config: UnetConfig | None = None,
) -> dict[str, Tensor]:
    """Convert PEFT LoRA state dicts (``{"unet": sd, "text_encoder": sd, "text_encoder_2": sd}``,
    keys as from ``peft.utils.get_peft_model_state_dict``) into a kohya state dict.

    ``alpha_for(component, module_path, rank)`` returns the trained alpha of each module; it is
    stored as a scalar ``.alpha`` tensor. All tensors are cast to ``dtype`` when given.
    ``unet_config`` (the trained UNet's config) numbers SDXL's original-layout names.
    """
    import torch

    family = ModelFamily(family)
    out: dict[str, Tensor] = {}
    for component, sd in component_state_dicts.items():
        if not sd:
            continue
        pairs: dict[str, dict[str, Tensor]] = {}
        for key, tensor in sd.items():
            module_path, which = _split_peft_key(key)
            pairs.setdefault(module_path, {})[which] = tensor
        for module_path, ab in sorted(pairs.items()):
            if set(ab) != {"A", "B"}:
                raise ValueError(f"{component}: module {module_path!r} is missing lora_A or lora_B")
            down, up = ab["A"], ab["B"]
            rank = int(down.shape[0])
            if up.shape[1] != rank:
                raise ValueError(f"{component}: {module_path!r} has mismatched LoRA ranks")
            name = kohya_name(component, module_path, family, unet_config)
            if f"{name}.lora_down.weight" in out:
                raise ValueError(f"two modules map to the same kohya name {name!r}")
            target = dtype or down.dtype
            out[f"{name}.lora_down.weight"] = down.detach().to("cpu", target).contiguous()
            out[f"{name}.lora_up.weight"] = up.detach().to("cpu", target).contiguous()
            alpha = float(alpha_for(component, module_path, rank))
            out[f"{name}.alpha"] = torch.tensor(alpha, dtype=target)
    return out


def save_kohya_lora(
    path: str | os.PathLike[str],
    component_state_dicts: Mapping[str, Mapping[str, Tensor]],
    *,
    family: ModelFamily | str,
    alpha_for: AlphaFor,
    dtype: DType | None = None,
    metadata: Mapping[str, str] | None = None,
    unet_config: UnetConfig | None = None,
) -> Path:
    """Write a kohya-format LoRA file atomically and return its path.

    ``metadata`` (e.g. from ``lora_metadata.build_metadata``) is stored as is, plus kohya's
    ``sshs_model_hash``/``sshs_legacy_hash`` computed over the tensor data.
    """
    tensors = peft_to_kohya(
        component_state_dicts, family=family, alpha_for=alpha_for, dtype=dtype, unet_config=unet_config
    )
    return write_kohya_file(path, tensors, metadata)


def write_kohya_file(
    path: str | os.PathLike[str], tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None
) -> Path:
    """Write kohya-form LoRA tensors atomically with ``metadata`` plus kohya's ``sshs_model_hash``/
    ``sshs_legacy_hash`` (computed over the tensor data); return the path."""
    from lora_studio.formats.hashes import precompute_sshs_hashes
    from lora_studio.formats.safetensors_meta import write_safetensors

    tensors = dict(tensors)
    if not tensors:
        raise ValueError("there are no LoRA weights to save")
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    model_hash, legacy_hash = precompute_sshs_hashes(dict(tensors), meta)
    meta["sshs_model_hash"] = model_hash
    meta["sshs_legacy_hash"] = legacy_hash
    return write_safetensors(path, dict(tensors), meta)


@dataclass
class PeftLora:
    """A kohya LoRA converted back to PEFT form, per component.

    ``state_dicts[component]`` has ``<module>.lora_A.weight``/``<module>.lora_B.weight`` keys for
    ``peft.set_peft_model_state_dict``; ``alphas``/``ranks`` give each module's alpha and rank.
    """

    state_dicts: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    alphas: dict[str, dict[str, float]] = field(default_factory=dict)
    ranks: dict[str, dict[str, int]] = field(default_factory=dict)

    def lora_config_kwargs(self, component: str) -> dict[str, object]:
        """Keyword arguments for ``peft.LoraConfig`` that recreate this component's adapter
        (``r``, ``lora_alpha``, ``target_modules`` and per-module ``rank_pattern``/``alpha_pattern``)."""
        ranks = self.ranks.get(component, {})
        alphas = self.alphas.get(component, {})
        if not ranks:
            raise KeyError(f"the LoRA has no weights for {component}")
        r = Counter(ranks.values()).most_common(1)[0][0]
        alpha = Counter(alphas.values()).most_common(1)[0][0]
        return {
            "r": r,
            "lora_alpha": alpha,
            "target_modules": sorted(ranks),
            "rank_pattern": {m: v for m, v in ranks.items() if v != r},
            "alpha_pattern": {m: v for m, v in alphas.items() if v != alpha},
        }


def module_resolver(
    state_dict: Mapping[str, Tensor] | Iterable[str],
    *,
    module_paths: Mapping[str, Iterable[str]] | None = None,
    family: ModelFamily | str | None = None,
    flat_clip_text_model: bool | None = None,
    unet_config: UnetConfig | None = None,
) -> Callable[[str], tuple[Component, str]]:
    """``resolve(kohya module name) -> (component, module path)`` for the names of ``state_dict``
    (its keys): exact against the model's ``module_paths`` when given, else rebuilt from known
    diffusers/CLIP identifiers (``parse_kohya_name``). Raises ``ValueError`` for an unknown name."""
    keys = list(state_dict)
    exact: dict[str, tuple[Component, str]] = {}
    if module_paths:
        if family is not None:
            fam = ModelFamily(family)
        else:
            sdxl = any(k.startswith(("lora_te1_", "lora_te2_")) or is_sgm_unet_name(k) for k in keys)
            fam = ModelFamily.SDXL if sdxl or "text_encoder_2" in module_paths else ModelFamily.SD1
        for component, names in module_paths.items():
            for name in names:
                where = (component, name)
                if component == "unet" and fam == ModelFamily.SDXL:
                    exact[kohya_name(component, name, ModelFamily.SD1)] = where  # type: ignore[assignment]
                    try:
                        exact[kohya_name(component, name, fam, unet_config)] = where  # type: ignore[assignment]
                    except ValueError:
                        pass  # a container module (e.g. "down_blocks") has no original-layout name
                else:
                    exact[kohya_name(component, name, fam)] = where  # type: ignore[assignment]

    def resolve(name: str) -> tuple[Component, str]:
        return exact.get(name) or parse_kohya_name(
            name, flat_clip_text_model=flat_clip_text_model, unet_config=unet_config
        )

    return resolve


def kohya_to_peft(
    state_dict: Mapping[str, Tensor],
    *,
    module_paths: Mapping[str, Iterable[str]] | None = None,
    family: ModelFamily | str | None = None,
    flat_clip_text_model: bool | None = None,
    unet_config: UnetConfig | None = None,
) -> PeftLora:
    """Convert a kohya LoRA state dict (as written by ``save_kohya_lora`` or sd-scripts) back to PEFT form.

    ``module_paths`` (component -> the model's module names, e.g. ``[n for n, _ in
    unet.named_modules()]``) makes the name lookup exact; without it names are rebuilt from known
    diffusers/CLIP identifiers. SDXL UNet names are accepted in both the original layout (kohya's)
    and diffusers' layout (older LoRA Studio files); ``unet_config`` is the UNet's config (default:
    the bundled SDXL one). Missing alphas default to the rank (kohya's rule).
    """
    resolve = module_resolver(
        state_dict,
        module_paths=module_paths,
        family=family,
        flat_clip_text_model=flat_clip_text_model,
        unet_config=unet_config,
    )
    result = PeftLora()
    grouped: dict[str, dict[str, Tensor]] = {}
    for key, tensor in state_dict.items():
        name, _, suffix = key.partition(".")
        grouped.setdefault(name, {})[suffix] = tensor
    for name, parts in sorted(grouped.items()):
        unknown = set(parts) - {"lora_down.weight", "lora_up.weight", "alpha"}
        if unknown or "lora_down.weight" not in parts or "lora_up.weight" not in parts:
            raise ModelLoadError(
                "This LoRA uses a layout that cannot be converted for training "
                f"(module {name} has {sorted(parts)}).",
                hint="Only plain kohya LoRA/LoCon files can be resumed or merged here.",
            )
        try:
            component, path = resolve(name)
        except ValueError as exc:
            raise ModelLoadError(
                f"Unknown LoRA module name “{name}”.",
                hint="The LoRA was made for a different base model or architecture.",
            ) from exc
        down, up = parts["lora_down.weight"], parts["lora_up.weight"]
        rank = int(down.shape[0])
        alpha_t = parts.get("alpha")
        alpha = float(alpha_t.item()) if alpha_t is not None else float(rank)
        if alpha == 0:
            alpha = float(rank)
        result.state_dicts.setdefault(component, {})
        result.state_dicts[component][f"{path}.lora_A.weight"] = down
        result.state_dicts[component][f"{path}.lora_B.weight"] = up
        result.alphas.setdefault(component, {})[path] = alpha
        result.ranks.setdefault(component, {})[path] = rank
    return result


def rename_sdxl_unet_keys(
    tensors: Mapping[str, Tensor],
    *,
    to: Literal["original", "diffusers"],
    unet_config: UnetConfig | None = None,
) -> dict[str, Tensor]:
    """An SDXL kohya state dict with every UNet module name in one layout (other keys unchanged).

    ``to="original"`` gives kohya's names (what sd-scripts writes); ``to="diffusers"`` gives the
    diffusers-style names older LoRA Studio files used. ``unet_config`` numbers the blocks.
    """
    config = _unet_config(unet_config)
    out: dict[str, Tensor] = {}
    for key, value in tensors.items():
        name, dot, suffix = key.partition(".")
        if name.startswith("lora_unet_"):
            sgm = is_sgm_unet_name(name)
            if to == "diffusers" and sgm:
                name = "lora_unet_" + _sgm_path(name[len("lora_unet_") :], config).replace(".", "_")
            elif to == "original" and not sgm:
                path = _dotted(name[len("lora_unet_") :])
                name = "lora_unet_" + diffusers_to_ldm_path(path, config).replace(".", "_")
        new_key = name + dot + suffix
        if new_key in out:
            raise ValueError(f"two modules map to the same kohya name {name!r}")
        out[new_key] = value
    return out


def load_kohya_lora(path: str | os.PathLike[str], **kwargs: object) -> PeftLora:
    """Read a kohya LoRA file and convert it with ``kohya_to_peft`` (keyword arguments pass through)."""
    from safetensors.torch import load_file

    from lora_studio.formats.safetensors_meta import read_header

    read_header(path)  # plain-words error for broken files
    return kohya_to_peft(load_file(str(path)), **kwargs)  # type: ignore[arg-type]
