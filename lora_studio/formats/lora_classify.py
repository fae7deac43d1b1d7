"""Tell what kind of LoRA a file holds, and for which base model, from tensor names and shapes only.

Works on a safetensors header (no tensor data), so it is fast and torch-free. Public names are also
available from ``lora_studio.formats.lora_keys``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lora_studio.core.families import ModelFamily


class LoraFormat(enum.StrEnum):
    """The layout of a LoRA-like file."""

    KOHYA_LORA = "kohya_lora"  # lora_unet_/lora_te_ + lora_down/lora_up/alpha, linear + 1x1 only
    KOHYA_LOCON = "kohya_locon"  # the same with 3x3 conv layers (LyCORIS "LoCon")
    DIFFUSERS = "diffusers"  # unet./text_encoder. prefixed lora_A/lora_B (save_lora_weights)
    DIFFUSERS_OLD = "diffusers_old"  # attention-processor era: to_q_lora.down.weight, lora_linear_layer
    PEFT = "peft"  # bare PEFT keys: <module>.lora_A.weight, base_model.model.…
    LOHA = "loha"
    LOKR = "lokr"
    OFT = "oft"
    IA3 = "ia3"
    FULL = "full"  # LyCORIS full fine-tune difference (".diff")
    CHECKPOINT = "checkpoint"  # a whole model, not a LoRA
    UNKNOWN = "unknown"

    @property
    def is_lycoris_only(self) -> bool:
        """Formats diffusers' SD loaders cannot load (LoHa, LoKr, OFT, (IA)^3, full-diff)."""
        return self in (LoraFormat.LOHA, LoraFormat.LOKR, LoraFormat.OFT, LoraFormat.IA3, LoraFormat.FULL)

    @property
    def is_lora(self) -> bool:
        return self not in (LoraFormat.CHECKPOINT, LoraFormat.UNKNOWN)


@dataclass(frozen=True)
class LoraKind:
    """What ``classify_lora_keys`` found."""

    format: LoraFormat
    family: ModelFamily | None = None  # None when names and shapes do not tell
    family_reason: str = ""  # which clue decided the family, for logs and the info panel
    dora: bool = False
    conv_layers: bool = False  # has 3x3 conv modules (LoCon)
    has_unet: bool = False
    has_text_encoder: bool = False
    module_count: int = 0
    ranks: tuple[int, ...] = ()  # distinct ranks of lora_down / lora_A weights, ascending


ShapeMap = Mapping[str, Sequence[int]]

_CHECKPOINT_MARKERS = (
    "model.diffusion_model.",
    "cond_stage_model.",
    "conditioner.embedders.",
    "first_stage_model.",
)
_CROSS_DIMS = {768: ModelFamily.SD1, 1024: ModelFamily.SD2, 2048: ModelFamily.SDXL}
_TE_DIMS = {768: ModelFamily.SD1, 1024: ModelFamily.SD2, 1280: ModelFamily.SDXL}
_TE_LAYER = re.compile(r"(?:encoder_layers_|encoder\.layers\.)(\d+)")


def _module_name(key: str) -> str:
    """The module part of a tensor key (everything before the weight-type suffix)."""
    for marker in (
        ".lora_down.", ".lora_up.", ".lora_mid.", ".lora_A.", ".lora_B.", ".lora.down.", ".lora.up.",
        "_lora.down.", "_lora.up.", ".lora_linear_layer.", ".hada_", ".lokr_", ".oft_", ".alpha",
        ".dora_scale", ".lora_magnitude_vector", ".on_input", ".diff", ".weight", ".bias",
    ):  # fmt: skip
        i = key.find(marker)
        if i > 0:
            return key[:i]
    return key


def _detect_format(keys: Sequence[str], shapes: ShapeMap) -> LoraFormat:
    joined = "\n".join(keys)
    if any(k.startswith(_CHECKPOINT_MARKERS) for k in keys) and "lora" not in joined:
        return LoraFormat.CHECKPOINT
    if ".hada_w1" in joined:
        return LoraFormat.LOHA
    if ".lokr_w1" in joined or ".lokr_w2" in joined:
        return LoraFormat.LOKR
    if ".oft_blocks" in joined or ".oft_diag" in joined or ".oft_R" in joined:
        return LoraFormat.OFT
    if ".on_input" in joined:
        return LoraFormat.IA3
    if re.search(r"\.diff(_b)?$", joined, re.MULTILINE):
        return LoraFormat.FULL
    if ".lora_down." in joined:
        conv = (
            any(
                k.endswith(".lora_down.weight")
                and len(shapes.get(k, ())) == 4
                and tuple(shapes[k][2:]) != (1, 1)
                for k in keys
            )
            or ".lora_mid." in joined
        )
        return LoraFormat.KOHYA_LOCON if conv else LoraFormat.KOHYA_LORA
    if ".lora_A." in joined or ".lora_B." in joined:
        diffusers = all(
            k.startswith(("unet.", "transformer.", "text_encoder.", "text_encoder_2.")) for k in keys
        )
        return LoraFormat.DIFFUSERS if diffusers else LoraFormat.PEFT
    if ".lora_linear_layer." in joined or "_lora.down." in joined or ".lora.down." in joined:
        return LoraFormat.DIFFUSERS_OLD
    if any(k.startswith(_CHECKPOINT_MARKERS) for k in keys) or any(
        k.startswith(("down_blocks.", "up_blocks.", "mid_block.", "text_model.")) for k in keys
    ):
        return LoraFormat.CHECKPOINT
    return LoraFormat.UNKNOWN


def _in_dim(shapes: ShapeMap, key: str) -> int | None:
    shape = shapes.get(key)
    return int(shape[1]) if shape is not None and len(shape) >= 2 else None


def _is_te(module: str) -> bool:
    if module.startswith(("lora_transformer_", "transformer.")):
        return False  # FLUX (OneTrainer / diffusers): "lora_te…" would otherwise match "lora_transformer_"
    return module.startswith(("lora_te", "text_encoder", "te_", "te1_", "te2_")) or "text_model" in module


def strip_flux_prefix(key: str) -> str:
    """A FLUX LoRA key without the wrapper prefixes tools put before module paths."""
    for prefix in ("base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def is_flux_lora_keys(keys: Iterable[str]) -> bool:
    """Whether tensor names are a FLUX.1 LoRA's: kohya (``lora_unet_double_blocks_…``), OneTrainer
    (``lora_transformer_…``), diffusers/PEFT (``transformer.transformer_blocks.…``) or ai-toolkit's
    BFL names (``diffusion_model.double_blocks.…``)."""
    for key in keys:
        body = strip_flux_prefix(key)
        if body.startswith(("lora_unet_double_blocks_", "lora_unet_single_blocks_", "lora_transformer_")):
            return True
        if body.startswith(
            ("double_blocks.", "single_blocks.", "transformer_blocks.", "single_transformer_blocks.")
        ):
            return True
    return False


def _detect_family(keys: Sequence[str], shapes: ShapeMap) -> tuple[ModelFamily | None, str]:
    # Before the two-text-encoder rule: FLUX LoRAs name CLIP-L ``lora_te1_`` as SDXL files do.
    if is_flux_lora_keys(keys):
        return ModelFamily.FLUX, "FLUX transformer blocks"
    if any(k.startswith(("lora_te1_", "lora_te2_", "text_encoder_2.")) for k in keys):
        return ModelFamily.SDXL, "has two text encoders"
    if shapes:
        # Cross-attention key/value layers take the text embedding: 768 SD1, 1024 SD2, 2048 SDXL.
        for key in keys:
            if re.search(r"attn2[._]to_[kv]", key) and key.endswith(
                (".lora_down.weight", ".lora_A.weight", ".hada_w1_b", ".hada_w2_b")
            ):
                dim = _in_dim(shapes, key)
                if dim in _CROSS_DIMS:
                    return _CROSS_DIMS[dim], f"cross-attention width {dim}"
        for key in keys:
            if (
                _is_te(key)
                and re.search(r"q_proj", key)
                and key.endswith((".lora_down.weight", ".lora_A.weight"))
            ):
                dim = _in_dim(shapes, key)
                if dim in _TE_DIMS and dim != 1280:
                    return _TE_DIMS[dim], f"text encoder width {dim}"
    te_layers = {int(m.group(1)) for k in keys if _is_te(k) and (m := _TE_LAYER.search(k))}
    if te_layers and max(te_layers) >= 12:
        return ModelFamily.SD2, "text encoder has more than 12 layers"
    if any(re.match(r"lora_unet_(input_blocks|output_blocks|middle_block)_", k) for k in keys):
        return ModelFamily.SDXL, "original SDXL UNet names"
    if any(
        re.search(r"down_blocks[._]2[._]attentions[._]\d+[._]transformer_blocks[._]([2-9])", k) for k in keys
    ):
        return ModelFamily.SDXL, "deep transformer blocks"
    return None, ""


def classify_lora_keys(keys: ShapeMap | Iterable[str]) -> LoraKind:
    """Classify a LoRA from its tensor names, or from ``{name: shape}`` for better family detection."""
    shapes: ShapeMap = keys if isinstance(keys, Mapping) else {}
    names = sorted(keys)
    fmt = _detect_format(names, shapes)
    family, reason = _detect_family(names, shapes) if fmt.is_lora else (None, "")
    modules = {_module_name(k) for k in names} if fmt.is_lora else set()
    rank_keys = [k for k in names if k.endswith((".lora_down.weight", ".lora_A.weight"))]
    ranks = tuple(sorted({int(shapes[k][0]) for k in rank_keys if k in shapes and len(shapes[k]) >= 1}))
    return LoraKind(
        format=fmt,
        family=family,
        family_reason=reason,
        dora=any(
            k.endswith((".dora_scale", ".lora_magnitude_vector")) or ".lora_magnitude_vector." in k
            for k in names
        ),
        conv_layers=fmt in (LoraFormat.KOHYA_LOCON,)
        or any(len(shapes.get(k, ())) == 4 and tuple(shapes[k][2:]) != (1, 1) for k in rank_keys),
        has_unet=any(not _is_te(m) for m in modules),
        has_text_encoder=any(_is_te(m) for m in modules),
        module_count=len(modules),
        ranks=ranks,
    )
