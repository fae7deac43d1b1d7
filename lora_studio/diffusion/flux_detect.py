"""What a FLUX.1 file is, told from its safetensors header alone. Torch-free.

* the transformer in Black Forest Labs' layout (``double_blocks.*``, ``single_blocks.*``, ``img_in`` …),
  bare (``flux1-dev.safetensors``) or under ``model.diffusion_model.`` in an all-in-one file that
  may also hold ``text_encoders.clip_l.*``, ``text_encoders.t5xxl.*`` and ``vae.*``;
* dev (it has the distilled-guidance embedding ``guidance_in``) or schnell (it has not);
* the weights' storage: bf16 / fp16 / fp32, or fp8 (``float8_e4m3fn``, ComfyUI's "scaled" fp8 too);
* the component files people pair with it: ``clip_l``, ``t5xxl_*``, ``ae``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lora_studio.formats.safetensors_meta import SafetensorsHeader, TensorInfo

ALL_IN_ONE_PREFIX = "model.diffusion_model."
# Where an all-in-one file keeps each component (ComfyUI's checkpoint layout for FLUX).
PART_PREFIXES = {
    "clip_l": ("text_encoders.clip_l.transformer.", "text_encoders.clip_l."),
    "t5xxl": ("text_encoders.t5xxl.transformer.", "text_encoders.t5xxl."),
    "ae": ("vae.", "first_stage_model."),
}
PART_LABELS = {
    "transformer": "FLUX.1 transformer",
    "clip_l": "CLIP-L text encoder",
    "t5xxl": "T5-XXL text encoder",
    "ae": "FLUX autoencoder (VAE)",
}
PART_FILES = {  # the usual file names, for messages
    "clip_l": "clip_l.safetensors",
    "t5xxl": "t5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors",
    "ae": "ae.safetensors",
}
_REQUIRED = (
    "img_in.weight",
    "txt_in.weight",
    "time_in.in_layer.weight",
    "vector_in.in_layer.weight",
    "double_blocks.0.img_attn.qkv.weight",
    "single_blocks.0.linear1.weight",
    "final_layer.linear.weight",
)
_DTYPES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8", "F8_E5M2": "fp8_e5m2"}
_CLIP_TOKENS = "text_model.embeddings.token_embedding.weight"
_T5_Q = "encoder.block.0.layer.0.SelfAttention.q.weight"


@dataclass(frozen=True, slots=True)
class FluxFacts:
    """The FLUX facts of one file: what it holds and in what precision."""

    prefix: str  # "" for a transformer-only file, ALL_IN_ONE_PREFIX for an all-in-one file
    variant: str  # "dev" or "schnell"
    weight_dtype: str  # "bf16", "fp16", "fp32", "fp8", "fp8_e5m2"
    scaled_fp8: bool
    parts: tuple[str, ...]  # of "transformer", "clip_l", "t5xxl", "ae"
    joint_dim: int  # width of the T5 features the transformer takes (4096)
    pooled_dim: int  # width of the CLIP pooled vector it takes (768)
    in_channels: int  # packed latent channels (64 = 16 x 2 x 2)
    missing_key: str = ""  # a transformer weight the file lacks ("" when complete)

    @property
    def fp8(self) -> bool:
        return self.weight_dtype.startswith("fp8")

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(p for p in ("clip_l", "t5xxl", "ae") if p not in self.parts)


def flux_prefix(keys: Mapping[str, object] | list[str]) -> str | None:
    """ "" or ALL_IN_ONE_PREFIX when the keys hold a FLUX transformer in BFL layout, else None.

    Never for a LoRA, even one named after the BFL modules (XLabs' ``double_blocks.N.processor.qkv_lora1``)."""
    if any("lora" in k.lower() for k in keys):
        return None
    for prefix in ("", ALL_IN_ONE_PREFIX):
        if any(
            k.startswith((prefix + "double_blocks.", prefix + "single_blocks.")) for k in keys
        ) and not any(k.startswith(prefix + "joint_blocks.") for k in keys):
            return prefix
    return None


def flux_facts(header: SafetensorsHeader) -> FluxFacts | None:
    """The FLUX facts of a file, or None when it holds no FLUX transformer."""
    tensors = header.tensors
    prefix = flux_prefix(list(tensors))
    if prefix is None:
        return None
    missing = next((prefix + k for k in _REQUIRED if prefix + k not in tensors), "")
    qkv = tensors.get(prefix + "double_blocks.0.img_attn.qkv.weight")
    parts = ["transformer"] + [
        part for part, prefixes in PART_PREFIXES.items() if any(k.startswith(prefixes) for k in tensors)
    ]

    def dim(key: str, axis: int = 1) -> int:
        info = tensors.get(prefix + key)
        return int(info.shape[axis]) if info is not None and len(info.shape) > axis else 0

    return FluxFacts(
        prefix=prefix,
        variant="dev" if any(k.startswith(prefix + "guidance_in.") for k in tensors) else "schnell",
        weight_dtype=_DTYPES.get(qkv.dtype, qkv.dtype.lower()) if qkv is not None else "",
        scaled_fp8="scaled_fp8" in tensors or any(k.endswith(".scale_weight") for k in tensors),
        parts=tuple(parts),
        joint_dim=dim("txt_in.weight"),
        pooled_dim=dim("vector_in.in_layer.weight"),
        in_channels=dim("img_in.weight"),
        missing_key=missing,
    )


@dataclass(frozen=True, slots=True)
class ComponentFacts:
    """A separate FLUX component file: which part, its width, its precision."""

    part: str  # "clip_l", "t5xxl" or "ae"
    width: int  # CLIP hidden size / T5 d_model / autoencoder latent channels
    weight_dtype: str


def _dtype(info: TensorInfo | None) -> str:
    return _DTYPES.get(info.dtype, info.dtype.lower()) if info is not None else ""


def component_facts(header: SafetensorsHeader) -> ComponentFacts | None:
    """Say whether a file is a CLIP text encoder, a T5 encoder or a 16-channel FLUX autoencoder."""
    t = header.tensors
    tokens = t.get(_CLIP_TOKENS) or t.get("embeddings.token_embedding.weight")
    if tokens is not None and len(tokens.shape) == 2:
        return ComponentFacts("clip_l", int(tokens.shape[1]), _dtype(tokens))
    q = t.get(_T5_Q)
    shared = t.get("shared.weight") or t.get("encoder.embed_tokens.weight")
    if q is not None and shared is not None and len(shared.shape) == 2:
        return ComponentFacts("t5xxl", int(shared.shape[1]), _dtype(q))
    conv = t.get("decoder.conv_in.weight")
    if conv is not None and "encoder.conv_in.weight" in t and len(conv.shape) == 4:
        return ComponentFacts("ae", int(conv.shape[1]), _dtype(conv))
    return None
