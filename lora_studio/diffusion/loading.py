"""Load a base model (single-file checkpoint or diffusers folder) fully offline.

Single files go through diffusers' ``from_single_file`` with ``config=<local folder>``: the only way
it never reaches for the model hub (see shared/research/ecosystem.md 2.1). The folder holds our
bundled JSON configs plus the CLIP tokenizer, or the configs the file carries in its metadata.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core import paths
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import Event, StatusChanged

paths.set_offline_environment()  # before the hub libraries read their settings (no-op if set)

import torch  # noqa: E402

from lora_studio.core.families import ModelFamily, Prediction  # noqa: E402
from lora_studio.diffusion.configs import (  # noqa: E402
    config_name,
    materialize_config,
    materialize_embedded_config,
)
from lora_studio.diffusion.devices import pick_device, pick_dtype  # noqa: E402
from lora_studio.diffusion.families import (  # noqa: E402
    DetectedModel,
    detect_folder,
    detect_model,
    embedded_config,
    inspect_checkpoint,
)
from lora_studio.formats.safetensors_meta import SafetensorsHeader, read_header  # noqa: E402

__all__ = ["LoadedModel", "inspect_checkpoint", "load_pipeline", "set_prediction"]

log = logging.getLogger(__name__)
Reporter = Callable[[Event], None]
_TE1_POS = "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight"
_TE2_POS = "conditioner.embedders.1.model.positional_embedding"


@dataclass
class LoadedModel:
    """A ready pipeline and what it is. ``kind`` is ``"single_file"`` or ``"diffusers"``.

    FLUX.1: ``variant`` is ``"dev"`` or ``"schnell"``; ``components`` names the file each part
    came from (``transformer``, ``clip_l``, ``t5xxl``, ``ae``), ``fp8`` whether the transformer
    file stored float8 weights (upcast while loading; see ``flux_loading``).
    """

    pipeline: Any
    family: ModelFamily
    prediction: Prediction
    source: Path
    kind: str
    variant: str = ""
    components: dict[str, Path] = field(default_factory=dict)
    fp8: bool = False


def _pipeline_class(family: ModelFamily) -> Any:  # a diffusers pipeline class (their stubs share no base)
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if family == ModelFamily.SDXL else StableDiffusionPipeline


def load_pipeline(
    path: str | Path,
    *,
    family: ModelFamily | str | None = None,
    prediction: Prediction | str | None = None,
    device: str = "cpu",
    dtype: torch.dtype | str | None = None,
    reporter: Reporter | None = None,
    clip_l: str | Path | None = None,
    t5xxl: str | Path | None = None,
    ae: str | Path | None = None,
) -> LoadedModel:
    """Load an SD 1.x / 2.x / SDXL or FLUX.1 base model from a ``.safetensors`` file or a diffusers folder.

    ``family``/``prediction`` override what the file says. FLUX.1: ``clip_l``/``t5xxl``/``ae`` name
    component files; without them they are found beside the model or in the model folders
    (``flux_components``). Every failure is a ModelLoadError.
    """
    path = Path(path)
    report = reporter or (lambda _event: None)
    device = pick_device(device)
    torch_dtype = pick_dtype(device, dtype if dtype is not None else "auto")
    overrides = {"clip_l": clip_l, "t5xxl": t5xxl, "ae": ae}
    if path.is_dir():
        loaded = _guarded(path, lambda: _load_folder(path, family, prediction, torch_dtype, report))
    else:
        loaded = _guarded(
            path, lambda: _load_single_file(path, family, prediction, torch_dtype, report, overrides)
        )
    _check_complete(loaded.pipeline, path)
    set_prediction(loaded.pipeline, loaded.prediction)
    if device != "cpu":
        report(StatusChanged(f"Moving the model to {device}…"))
        _guarded(path, lambda: loaded.pipeline.to(device))
    loaded.pipeline.set_progress_bar_config(disable=True)
    return loaded


def set_prediction(pipeline: Any, prediction: Prediction | str) -> None:
    """Make the scheduler predict noise (epsilon) or velocity (v), keeping its other settings.

    Flow matching (FLUX.1) has one kind of prediction and a scheduler without the setting."""
    prediction = Prediction(prediction)
    if prediction == Prediction.FLOW:
        return
    scheduler = pipeline.scheduler
    if scheduler.config.get("prediction_type") != prediction.value:
        pipeline.scheduler = type(scheduler).from_config(scheduler.config, prediction_type=prediction.value)


def _guarded(path: Path, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; turn any failure into a ModelLoadError in plain words (details keep the traceback)."""
    try:
        return fn()
    except ModelLoadError:
        raise
    except (MemoryError, torch.OutOfMemoryError):
        raise ModelLoadError(
            f'There is not enough memory to load "{path.name}".',
            hint="Close other programs that use a lot of memory or the graphics card, then try again.",
            details=traceback.format_exc(),
        ) from None
    except Exception as exc:
        if _is_network_error(exc):
            raise ModelLoadError(
                f'Loading "{path.name}" tried to download files, which LoRA Studio never does.',
                hint="This is a bug; please report it with the details below.",
                details=traceback.format_exc(),
            ) from None
        if "meta tensor" in str(exc):  # diffusers leaves weights the file lacks as empty placeholders
            raise ModelLoadError(
                f'"{path.name}" is missing some of the model\'s weights.',
                hint="The file is incomplete or of a different model type. Download it again.",
                details=traceback.format_exc(),
            ) from None
        raise ModelLoadError(
            f'"{path.name}" could not be loaded. It may be damaged, or a kind of model LoRA Studio '
            "does not support.",
            hint="Check that it is an SD 1.5, SD 2.x, SDXL or FLUX.1 base model; if it is, download it again.",
            details=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}",
        ) from None


def _is_network_error(exc: BaseException) -> bool:
    names = {"OfflineModeIsEnabled", "LocalEntryNotFoundError", "ConnectionError", "HfHubHTTPError"}
    seen: BaseException | None = exc
    while seen is not None:
        if any(cls.__name__ in names for cls in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _load_single_file(
    path: Path,
    family: ModelFamily | str | None,
    prediction: Prediction | str | None,
    torch_dtype: torch.dtype,
    report: Reporter,
    overrides: dict[str, Any] | None = None,
) -> LoadedModel:
    report(StatusChanged(f"Reading {path.name}…"))
    header = read_header(path)
    detected = detect_model(path, header)
    if detected.family == ModelFamily.FLUX:
        _refuse_other_family(path, family, ModelFamily.FLUX)
        from lora_studio.diffusion.flux_loading import load_flux_single_file

        report(StatusChanged(f"Loading FLUX.1-{detected.variant} model {path.name}…"))
        _quiet_diffusers()
        pipe, sources = load_flux_single_file(path, header, detected, torch_dtype, report, overrides)
        return LoadedModel(
            pipe,
            ModelFamily.FLUX,
            Prediction.FLOW,
            path,
            "single_file",
            detected.variant,
            sources,
            detected.fp8,
        )
    _refuse_other_family(path, family, detected.family)
    fam = ModelFamily(family) if family else detected.family
    pred = Prediction(prediction) if prediction else detected.prediction
    _refuse_unusable(detected)
    embedded = embedded_config(header)
    config_dir = (
        materialize_embedded_config(fam, embedded) if embedded else materialize_config(config_name(fam, pred))
    )
    kwargs: dict[str, Any] = {"config": str(config_dir), "local_files_only": True, "dtype": torch_dtype}
    if fam == ModelFamily.SDXL:
        te2 = _sdxl_te2_if_ambiguous(path, header, config_dir, torch_dtype)
        if te2 is not None:
            kwargs["text_encoder_2"] = te2
    else:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    report(StatusChanged(f"Loading {fam.label} model {path.name}…"))
    _quiet_diffusers()
    pipe = _pipeline_class(fam).from_single_file(str(path), **kwargs)
    return LoadedModel(pipe, fam, pred, path, "single_file")


def _refuse_other_family(path: Path, wanted: ModelFamily | str | None, found: ModelFamily) -> None:
    """FLUX.1 and the UNet families share no code path: a family override cannot cross that line."""
    if wanted and (ModelFamily(wanted) == ModelFamily.FLUX) != (found == ModelFamily.FLUX):
        raise ModelLoadError(
            f'"{path.name}" is a {found.label} model, not {ModelFamily(wanted).label}.',
            hint="Set the model type to “Detect”, or choose a model of the type you want.",
        )


def _refuse_unusable(detected: DetectedModel) -> None:
    name = detected.path.name
    if detected.is_inpainting:
        raise ModelLoadError(
            f'"{name}" is an inpainting model. LoRA Studio trains and tests LoRAs on regular models.',
            hint="Choose the regular (non-inpainting) version of this model.",
        )
    missing = [
        what
        for what, ok in (("VAE", detected.has_vae), ("text encoder", detected.has_text_encoder))
        if not ok
    ]
    if missing:
        raise ModelLoadError(
            f'"{name}" has no {" and no ".join(missing)} inside, so it cannot be used on its own.',
            hint="Download the full version of this model (usually the larger file).",
        )


def _sdxl_te2_if_ambiguous(
    path: Path, header: SafetensorsHeader, config_dir: Path, torch_dtype: torch.dtype
) -> Any | None:
    """Build SDXL's second text encoder ourselves when both encoders have the same width.

    diffusers tells the two apart by width alone and would put the first encoder's weights into the
    second one. Real SDXL (768 vs 1280) never hits this; our tiny models (32 vs 32) do. We still use
    diffusers' own converter, on the second encoder's tensors only.
    """
    te1, te2 = header.tensors.get(_TE1_POS), header.tensors.get(_TE2_POS)
    if not te1 or not te2 or te1.shape[-1] != te2.shape[-1]:
        return None
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from safetensors import safe_open
    from transformers import CLIPTextModelWithProjection

    with safe_open(str(path), framework="pt") as fh:
        subset = {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("conditioner.embedders.1.")}  # noqa: SIM118
    return create_diffusers_clip_model_from_ldm(
        CLIPTextModelWithProjection,
        checkpoint=subset,
        config=str(config_dir),
        subfolder="text_encoder_2",
        torch_dtype=torch_dtype,
        local_files_only=True,
    )


def _load_folder(
    root: Path,
    family: ModelFamily | str | None,
    prediction: Prediction | str | None,
    torch_dtype: torch.dtype,
    report: Reporter,
) -> LoadedModel:
    detected = detect_folder(root)
    _refuse_other_family(root, family, detected.family)
    if detected.family == ModelFamily.FLUX:
        from lora_studio.diffusion.flux_loading import load_flux_folder

        if detected.missing_parts:
            raise ModelLoadError(
                f'The FLUX.1 folder "{root.name}" lacks {", ".join(detected.missing_parts)}.',
                hint="Download the whole model folder again.",
            )
        report(StatusChanged(f"Loading FLUX.1-{detected.variant} model {root.name}…"))
        _quiet_diffusers()
        pipe = load_flux_folder(root, torch_dtype)
        return LoadedModel(pipe, ModelFamily.FLUX, Prediction.FLOW, root, "diffusers", detected.variant)
    _refuse_unusable(detected)
    fam = ModelFamily(family) if family else detected.family
    pred = Prediction(prediction) if prediction else detected.prediction
    # use_safetensors: never hand a pickled .bin to torch's unpickler (detect_folder refuses those).
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch_dtype, "use_safetensors": True}
    if fam != ModelFamily.SDXL:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    report(StatusChanged(f"Loading {fam.label} model {root.name}…"))
    _quiet_diffusers()
    pipe = _pipeline_class(fam).from_pretrained(str(root), **kwargs)
    return LoadedModel(pipe, fam, pred, root, "diffusers")


def _quiet_diffusers() -> None:
    """No console progress bars: the app shows its own status, and a windowed build has no console."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()


def _check_complete(pipeline: Any, path: Path) -> None:
    """diffusers leaves weights a file lacks as empty placeholders; refuse such a half-loaded model."""
    missing: list[str] = []
    for name in ("unet", "transformer", "vae", "text_encoder", "text_encoder_2"):
        module = getattr(pipeline, name, None)
        if isinstance(module, torch.nn.Module):
            missing += [f"{name}.{n}" for n, p in module.named_parameters() if p.device.type == "meta"]
    if missing:
        raise ModelLoadError(
            f'"{path.name}" is missing {len(missing)} of the model\'s weights.',
            hint="The file is incomplete or of a different model type. Download it again.",
            details="\n".join(missing[:50]),
        )
