"""What a checkpoint file is (family, prediction, parts), told from its safetensors header alone.

Torch-free: the header is 8 bytes of length plus a JSON table of tensor names, shapes and offsets,
so a file of many gigabytes is identified in milliseconds without reading a single weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.flux_detect import PART_FILES, PART_LABELS, FluxFacts, component_facts, flux_facts
from lora_studio.formats.safetensors_meta import SafetensorsHeader, read_header

EMBEDDED_CONFIG_KEY = "lora_studio.diffusers_config"
UNET_PREFIX = "model.diffusion_model."
_CONVERT_HINT = (
    "Convert it to .safetensors first, for example with the kohya_ss GUI (Utilities > Convert model) "
    'or the "Model Converter" extension of AUTOMATIC1111, then choose the new file.'
)


@dataclass(frozen=True, slots=True)
class DetectedModel:
    """What a base-model checkpoint is. ``prediction_guessed`` is True when no metadata said so."""

    path: Path
    family: ModelFamily
    prediction: Prediction
    prediction_guessed: bool
    is_inpainting: bool = False
    has_vae: bool = True
    has_text_encoder: bool = True
    embedded_config: bool = False
    title: str = ""
    size_bytes: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # FLUX.1 only (empty for SD files): "dev" / "schnell"; the transformer's storage ("bf16",
    # "fp16", "fp32", "fp8"); "transformer" (BFL file), "all_in_one" or "diffusers"; the parts the
    # file holds and the ones that must come from separate files ("clip_l", "t5xxl", "ae").
    variant: str = ""
    weight_dtype: str = ""
    layout: str = ""
    parts: tuple[str, ...] = ()
    missing_parts: tuple[str, ...] = ()

    @property
    def fp8(self) -> bool:
        return self.weight_dtype.startswith("fp8")


PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
_PICKLE_WHAT = (
    "is an old-style PyTorch (pickle) file. LoRA Studio does not open these because they can run hidden code."
)


def refuse_pickled_folder(root: Path, components: list[str]) -> None:
    """A diffusers folder is loaded from .safetensors only: a component that has only pickled
    weights (``diffusion_pytorch_model.bin``, ``pytorch_model.bin``) is refused like a .ckpt file."""
    for name in components:
        folder = root / name
        if not folder.is_dir():
            continue
        files = [p for p in folder.iterdir() if p.is_file()]
        if any(p.suffix == ".safetensors" for p in files):
            continue
        pickled = sorted(p for p in files if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickled:
            raise ModelLoadError(
                f'"{root.name}/{name}/{pickled[0].name}" {_PICKLE_WHAT}',
                hint="Use a copy of this model with .safetensors weights, or convert it. " + _CONVERT_HINT,
                details=str(pickled[0]),
            )


def _fail(path: Path, what: str, hint: str, details: str = "") -> ModelLoadError:
    return ModelLoadError(f'"{path.name}" {what}', hint=hint, details=details or str(path))


def _reject_non_base(path: Path, keys: list[str]) -> None:
    """Raise a clear error for every kind of file that is not an SD1/SD2/SDXL base checkpoint."""

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    def contains(part: str) -> bool:
        return any(part in k for k in keys)

    pick_base = "Choose a full SD 1.5, SD 2.x or SDXL checkpoint or a FLUX.1 model as the base model."
    if (
        has("lora_unet_")
        or has("lora_te")
        or contains(".lora_A.")
        or contains(".lora_down.")
        or contains(".hada_w1")
        or contains(".lokr_w1")
        or has("lycoris_")
        or any("lora" in k.lower() for k in keys)  # e.g. XLabs' FLUX LoRAs (double_blocks.N.processor.qkv_lora1)
    ):
        raise _fail(path, "is a LoRA, not a base model.", "Choose it in the LoRA list instead. " + pick_base)
    if has("string_to_param") or has("emb_params") or (bool(keys) and set(keys) <= {"clip_l", "clip_g"}):
        raise _fail(path, "is a textual-inversion embedding, not a base model.", pick_base)
    if has("control_model.") or has("controlnet_"):
        raise _fail(path, "is a ControlNet, not a base model.", pick_base)
    if (
        contains("joint_blocks.")
        or contains("double_blocks.")
        or contains("single_blocks.")
        or contains("double_stream_blocks")
        or (has(UNET_PREFIX) and not has(UNET_PREFIX + "input_blocks."))
    ):
        raise _fail(
            path,
            "is a transformer model of a kind LoRA Studio cannot train (such as SD3); of the "
            "transformer models, only FLUX.1 dev and schnell are supported.",
            pick_base,
        )
    if has("single_transformer_blocks.") and has("x_embedder."):
        raise _fail(
            path,
            "is a FLUX.1 transformer in diffusers layout: one part of a diffusers model folder.",
            "Choose the whole diffusers folder (the one with model_index.json), or the original "
            "single file (such as flux1-dev.safetensors).",
        )
    if not has(UNET_PREFIX):
        if has("encoder.conv_in.") or has("decoder.conv_in.") or has("first_stage_model."):
            raise _fail(path, "is a VAE only, not a full model.", "Put it in your VAE folder. " + pick_base)
        if has("down_blocks.") or has("conv_in.") or has("text_model.") or has("encoder.layers."):
            raise _fail(
                path,
                "holds only one part of a model (in diffusers format).",
                "Choose the whole model folder (with model_index.json) or a single-file checkpoint.",
            )
        raise _fail(path, "is not a Stable Diffusion checkpoint.", pick_base)
    if has("conditioner.embedders.0.model.") and not has("conditioner.embedders.1."):
        raise _fail(
            path,
            "is an SDXL refiner, which only polishes images and cannot be trained here.",
            "Choose the SDXL base model instead.",
        )


def _prediction_from_metadata(meta: dict[str, str], keys: set[str]) -> Prediction | None:
    value = meta.get("modelspec.prediction_type", "").strip().lower()
    if value in ("v", "v_prediction", "v-prediction"):
        return Prediction.V
    if value in ("epsilon", "eps"):
        return Prediction.EPSILON
    if meta.get("ss_v_parameterization", "").strip().lower() == "true":
        return Prediction.V
    arch = meta.get("modelspec.architecture", "").lower()
    if arch.endswith("-v") or "v-pred" in arch:
        return Prediction.V
    if "v_pred" in keys:  # ComfyUI marks v-prediction checkpoints with an empty "v_pred" tensor
        return Prediction.V
    return None


def detect_model(path: str | Path, header: SafetensorsHeader | None = None) -> DetectedModel:
    """Say what a single-file checkpoint is, from its header. Raise ModelLoadError if not usable."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise _fail(path, _PICKLE_WHAT, _CONVERT_HINT)
    header = header or read_header(path)
    keys = list(header.tensors)
    flux = flux_facts(header)
    if flux is not None:
        return _detect_flux(path, header, flux)
    _reject_component(path, header)
    _reject_non_base(path, keys)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("conditioner.embedders.1.model."):
        family = ModelFamily.SDXL
    elif has("cond_stage_model.model."):
        family = ModelFamily.SD2
    elif has("cond_stage_model.transformer."):
        family = ModelFamily.SD1
    else:
        family = _family_from_unet(header)
    notes: list[str] = []
    conv_in = header.tensors.get(UNET_PREFIX + "input_blocks.0.0.weight")
    inpainting = bool(conv_in and len(conv_in.shape) == 4 and conv_in.shape[1] == 9)
    if inpainting:
        notes.append("inpainting model")
    meta_pred = _prediction_from_metadata(header.metadata, set(keys))
    # SD 2.x 768 models (the common ones) predict v; SD 2.x 512 "base" predicts noise. The weights
    # look the same, so without metadata we assume v and let the user override it.
    default = Prediction.V if family == ModelFamily.SD2 else Prediction.EPSILON
    te_prefix = {
        ModelFamily.SD1: "cond_stage_model.",
        ModelFamily.SD2: "cond_stage_model.",
        ModelFamily.SDXL: "conditioner.embedders.",
    }[family]
    title = header.metadata.get("modelspec.title", "") or path.stem
    return DetectedModel(
        path=path,
        family=family,
        prediction=meta_pred or default,
        prediction_guessed=meta_pred is None,
        is_inpainting=inpainting,
        has_vae=has("first_stage_model."),
        has_text_encoder=has(te_prefix),
        embedded_config=EMBEDDED_CONFIG_KEY in header.metadata,
        title=title,
        size_bytes=header.file_size,
        notes=tuple(notes),
    )


def _detect_flux(path: Path, header: SafetensorsHeader, flux: FluxFacts) -> DetectedModel:
    if any(k.endswith((".absmax", ".quant_map")) or ".quant_state." in k for k in header.tensors):
        raise _fail(
            path,
            "is a 4-bit (bitsandbytes NF4) FLUX.1 file, which LoRA Studio cannot read.",
            "Use the bf16 or fp8 file of the same model (such as flux1-dev.safetensors or "
            "flux1-dev-fp8.safetensors); LoRA Studio can still keep it in 4 bits while training.",
        )
    if flux.in_channels not in (0, 64):  # FLUX.1 Fill (384), Depth / Canny (128) take image channels too
        raise _fail(
            path,
            f"is a FLUX.1 tool model (Fill, Depth or Canny: {flux.in_channels} input channels), "
            "which LoRA Studio cannot use as a base model.",
            "Choose FLUX.1-dev or FLUX.1-schnell (such as flux1-dev.safetensors).",
        )
    if flux.missing_key:
        raise _fail(
            path,
            f'is an incomplete FLUX.1 transformer: it lacks the weight "{flux.missing_key}".',
            "The download may have been cut off, or this is a different kind of model. Download it again.",
        )
    notes = [f"FLUX.1-{flux.variant}"] + (["fp8"] if flux.fp8 else [])
    return DetectedModel(
        path=path,
        family=ModelFamily.FLUX,
        prediction=Prediction.FLOW,
        prediction_guessed=False,
        has_vae="ae" in flux.parts,
        has_text_encoder="clip_l" in flux.parts and "t5xxl" in flux.parts,
        embedded_config=EMBEDDED_CONFIG_KEY in header.metadata,
        title=header.metadata.get("modelspec.title", "") or path.stem,
        size_bytes=header.file_size,
        notes=tuple(notes),
        variant=flux.variant,
        weight_dtype=flux.weight_dtype,
        layout="all_in_one" if flux.prefix else "transformer",
        parts=flux.parts,
        missing_parts=flux.missing,
    )


def _reject_component(path: Path, header: SafetensorsHeader) -> None:
    """A FLUX component file (clip_l, t5xxl, ae) is one part of a model, never a base model."""
    facts = component_facts(header)
    if facts is None or (facts.part == "ae" and facts.width != 16):
        return  # an SD VAE gets its own message from _reject_non_base
    raise _fail(
        path,
        f"is a {PART_LABELS[facts.part]} only (like FLUX's {PART_FILES[facts.part]}), one part of a model.",
        "Keep it in your text_encoders or vae folder (or beside the FLUX model) and choose the FLUX.1 "
        "model file itself (for example flux1-dev.safetensors) as the base model.",
    )


def _family_from_unet(header: SafetensorsHeader) -> ModelFamily:
    """Without text encoder weights, tell the family by the UNet's cross-attention width."""
    for name, info in header.tensors.items():
        shape = info.shape
        if name.startswith(UNET_PREFIX) and name.endswith("attn2.to_k.weight") and len(shape) == 2:
            return {768: ModelFamily.SD1, 1024: ModelFamily.SD2, 2048: ModelFamily.SDXL}.get(
                shape[1], ModelFamily.SD1
            )
    if any(k.startswith(UNET_PREFIX + "label_emb.") for k in header.tensors):
        return ModelFamily.SDXL
    return ModelFamily.SD1


def detect_folder(root: str | Path) -> DetectedModel:
    """Say what a diffusers model folder is, from its JSON files. Raise ModelLoadError if not usable."""
    root = Path(root)

    def read(*parts: str) -> dict[str, Any]:
        file = root.joinpath(*parts)
        try:
            return json.loads(file.read_text("utf-8")) if file.exists() else {}
        except (OSError, ValueError) as exc:
            raise _fail(
                root,
                "is damaged (a settings file cannot be read).",
                "Download the model again.",
                f"{file}: {exc!r}",
            ) from None

    index = read("model_index.json")
    if not index:
        raise _fail(
            root,
            "is not a diffusers model folder (it has no model_index.json).",
            "Choose the folder that contains model_index.json, or a single .safetensors checkpoint.",
        )
    refuse_pickled_folder(
        root, [k for k, v in index.items() if isinstance(v, list) and not k.startswith("_")]
    )
    cls = str(index.get("_class_name", ""))
    if cls in ("FluxPipeline", "FluxImg2ImgPipeline"):
        return _detect_flux_folder(root, index, read("transformer", "config.json"))
    if cls.startswith("StableDiffusionXL"):
        if "text_encoder_2" not in index or not (index.get("text_encoder") or [None])[0]:
            raise _fail(
                root,
                "is an SDXL refiner, which only polishes images and cannot be trained here.",
                "Choose the SDXL base model instead.",
            )
        family = ModelFamily.SDXL
    elif cls in ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline"):
        te, unet = read("text_encoder", "config.json"), read("unet", "config.json")
        pad = read("tokenizer", "tokenizer_config.json").get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        # SD 2.x: 1024-wide OpenCLIP text encoder, whose tokenizer pads with "!".
        sd2 = te.get("hidden_size") == 1024 or unet.get("cross_attention_dim") == 1024 or pad == "!"
        family = ModelFamily.SD2 if sd2 else ModelFamily.SD1
    else:
        raise _fail(
            root,
            f"is a {cls or 'model of unknown type'}, which LoRA Studio cannot use.",
            "Choose an SD 1.5, SD 2.x or SDXL model.",
        )
    pred = read("scheduler", "scheduler_config.json").get("prediction_type")
    in_channels = read("unet", "config.json").get("in_channels", 4)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return DetectedModel(
        path=root,
        family=family,
        prediction=Prediction.V if pred == "v_prediction" else Prediction.EPSILON,
        prediction_guessed=pred is None,
        is_inpainting=in_channels == 9,
        title=root.name,
        size_bytes=size,
    )


def _detect_flux_folder(root: Path, index: dict[str, Any], transformer: dict[str, Any]) -> DetectedModel:
    folders = {"transformer": "transformer", "clip_l": "text_encoder", "t5xxl": "text_encoder_2", "ae": "vae"}
    parts = tuple(p for p, sub in folders.items() if (root / sub).is_dir() and (index.get(sub) or [None])[0])
    if "transformer" not in parts or not transformer:
        raise _fail(root, "is a FLUX.1 folder without its transformer.", "Download the whole model folder again.")
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    variant = "dev" if transformer.get("guidance_embeds") else "schnell"
    return DetectedModel(
        path=root,
        family=ModelFamily.FLUX,
        prediction=Prediction.FLOW,
        prediction_guessed=False,
        has_vae="ae" in parts,
        has_text_encoder="clip_l" in parts and "t5xxl" in parts,
        title=root.name,
        size_bytes=size,
        notes=(f"FLUX.1-{variant}",),
        variant=variant,
        layout="diffusers",
        parts=parts,
        missing_parts=tuple(p for p in ("clip_l", "t5xxl", "ae") if p not in parts),
    )


def inspect_checkpoint(path: str | Path) -> DetectedModel:
    """Fast, torch-free facts about a checkpoint file or diffusers folder for the UI."""
    path = Path(path)
    return detect_folder(path) if path.is_dir() else detect_model(path)


def embedded_config(header: SafetensorsHeader) -> dict[str, Any] | None:
    """The component configs a file carries in its metadata (our tiny models do), or None."""
    raw = header.metadata.get(EMBEDDED_CONFIG_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
