"""The generation engine: a long-lived object that caches pipelines and turns requests into PNGs.

One engine per process (the app's generation worker owns it). It keeps the pipeline of the last
base model(s) in memory with its LoRA stack, so the usual test loop (same model, other LoRA
weights, same seed) only pays for sampling.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, GenerationError
from lora_studio.core.events import ImageReady, Progress, Reporter, StatusChanged, null_reporter
from lora_studio.core.families import ModelFamily
from lora_studio.generation.loras import LoraStack
from lora_studio.generation.preview import latents_to_preview_png
from lora_studio.generation.prompts import encode_prompts
from lora_studio.generation.request import GenerationRequest, GenerationResult, resolve_prompt_loras
from lora_studio.generation.samplers import make_flow_scheduler, make_scheduler

log = logging.getLogger(__name__)
MAX_SEED = 2**32 - 1


@dataclass
class ModelEntry:
    """A cached base model: its pipeline, LoRA stack and facts."""

    path: Path
    pipe: Any
    family: ModelFamily
    prediction: str
    stack: LoraStack
    scheduler_config: dict[str, Any]
    variants: dict[str, Any] = field(default_factory=dict)  # "img2img" / "inpaint" pipelines (shared weights)
    model_hash: str | None = None
    base_weights: str = "full"

    @property
    def is_flux(self) -> bool:
        return self.family == ModelFamily.FLUX

    @property
    def denoiser(self) -> Any:
        """The UNet (SD 1.x/2.x/SDXL) or the transformer (FLUX.1)."""
        return self.pipe.transformer if self.is_flux else self.pipe.unet

    @property
    def has_distilled_guidance(self) -> bool:
        """FLUX.1-dev takes its guidance as an input ("Distilled CFG Scale"); schnell and SD do not."""
        return self.is_flux and bool(self.pipe.transformer.config.guidance_embeds)

    @property
    def is_inpainting(self) -> bool:
        return not self.is_flux and int(self.pipe.unet.config.in_channels) == 9

    @property
    def native_size(self) -> int:
        if self.is_flux:  # the autoencoder's config holds FLUX's native size (1024; tiny models less)
            return int(self.pipe.vae.config.sample_size)
        return int(self.pipe.unet.config.sample_size) * int(getattr(self.pipe, "vae_scale_factor", 8))


def load_model(
    path: str | Path, device: str | None = None, dtype: torch.dtype | None = None, base_weights: str = "full"
) -> tuple[Any, ModelFamily, str]:
    """Load a base model (single file or diffusers folder) → (pipeline, family, prediction).

    ``base_weights`` "fp8"/"nf4" stores the denoiser (and FLUX's T5) in float8 / 4-bit NF4, see
    :func:`hold_base_weights`."""
    from lora_studio.diffusion.devices import pick_device, pick_dtype

    path = Path(path)
    device = device or pick_device()
    dtype = dtype or pick_dtype(device)
    from lora_studio.diffusion.loading import load_pipeline

    loaded = load_pipeline(path, device=device, dtype=dtype)
    pipe, family, pred = loaded.pipeline, ModelFamily(loaded.family), str(loaded.prediction)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    hold_base_weights(pipe, family, base_weights)
    return pipe, family, pred


def hold_base_weights(pipe: Any, family: ModelFamily, kind: str) -> None:
    """Store the frozen denoiser's weights (and FLUX's T5-XXL's) as ``kind`` with the shared
    training code (``diffusion.memory.store_base_weights``): "fp8" keeps float8_e4m3fn and computes
    each layer in the pipeline's dtype; "nf4" quantises the Linear layers with bitsandbytes. LoRAs
    still load on top (PEFT wraps those layers; their own weights stay in full precision); CLIP
    text encoders stay as they are (small, and LoRAs train them)."""
    from lora_studio.diffusion.base_weights import BaseWeights
    from lora_studio.diffusion.memory import store_base_weights

    if BaseWeights(kind) == BaseWeights.FULL:
        return
    parts = [pipe.transformer, pipe.text_encoder_2] if family == ModelFamily.FLUX else [pipe.unet]
    for module in parts:
        compute = next(module.parameters()).dtype
        module.requires_grad_(False)  # only frozen weights are converted
        store_base_weights(module, kind, compute)


class GenerationEngine:
    """Turns :class:`GenerationRequest` s into images; caches pipelines per base model."""

    def __init__(
        self,
        *,
        lora_dirs: Sequence[str | Path] = (),
        embedding_dirs: Sequence[str | Path] | None = None,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        max_models: int = 1,
    ) -> None:
        self.lora_dirs = [Path(d) for d in lora_dirs]
        if embedding_dirs is None:
            from lora_studio.generation.embedding_files import default_embedding_dirs

            embedding_dirs = default_embedding_dirs()
        self.embedding_dirs = [Path(d) for d in embedding_dirs]
        self.device = device
        self.dtype = dtype
        self.max_models = max(1, max_models)
        self._models: OrderedDict[str, ModelEntry] = OrderedDict()

    # -- models ----------------------------------------------------------------------------------
    def model(
        self, path: str | Path, reporter: Reporter = null_reporter, base_weights: str = "full"
    ) -> ModelEntry:
        """The cached entry for ``path`` held as ``base_weights``, loading it (and evicting the oldest)
        when needed."""
        key = self._key(path, base_weights)
        entry = self._models.get(key)
        if entry is not None:
            self._models.move_to_end(key)
            return entry
        while len(self._models) >= self.max_models:
            _, old = self._models.popitem(last=False)
            del old
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        reporter(StatusChanged(f"Loading {Path(path).name}…"))
        pipe, family, pred = load_model(path, self.device, self.dtype, base_weights)
        entry = ModelEntry(
            path=Path(path),
            pipe=pipe,
            family=family,
            prediction=pred,
            stack=LoraStack(pipe, family),
            scheduler_config=dict(pipe.scheduler.config),
            base_weights=base_weights,
        )
        self._models[key] = entry
        return entry

    @staticmethod
    def _key(path: str | Path, base_weights: str = "full") -> str:
        key = str(Path(path).resolve())
        return key if base_weights == "full" else f"{key}|{base_weights}"

    def is_loaded(self, path: str | Path, base_weights: str = "full") -> bool:
        """Whether the base model at ``path`` is cached (a generation with it pays no load)."""
        return self._key(path, base_weights) in self._models

    def unload(self) -> None:
        """Free every cached pipeline."""
        self._models.clear()

    def model_hash(self, entry: ModelEntry) -> str | None:
        """A1111 "Model hash" of a single-file model (cached); None for a diffusers folder."""
        if entry.model_hash is None and entry.path.is_file():
            from lora_studio.formats.hashes import cached_model_hash

            entry.model_hash = cached_model_hash(entry.path)
        return entry.model_hash

    def _variant(self, entry: ModelEntry, kind: str) -> Any:
        if kind == "txt2img":
            return entry.pipe
        if kind not in entry.variants:
            import diffusers

            from lora_studio.generation import flux

            sdxl = entry.family == ModelFamily.SDXL
            names = {
                "img2img": "StableDiffusionXLImg2ImgPipeline" if sdxl else "StableDiffusionImg2ImgPipeline",
                "inpaint": "StableDiffusionXLInpaintPipeline" if sdxl else "StableDiffusionInpaintPipeline",
            }
            if entry.is_flux:
                names = flux.PIPELINES
            pipe = getattr(diffusers, names[kind]).from_pipe(entry.pipe)
            pipe.set_progress_bar_config(disable=True)
            entry.variants[kind] = pipe
        return entry.variants[kind]

    # -- generation ------------------------------------------------------------------------------
    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Validate, move ``<lora:…>`` tags into the LoRA list, pick a seed for ``seed=-1``."""
        request = resolve_prompt_loras(request, self.lora_dirs)
        problems = request.validate()
        if problems:
            raise GenerationError(problems[0], hint=" ".join(problems[1:]))
        # LoRA files are checked from their headers before the base model loads (20-60 s).
        from lora_studio.generation.loras import check_lora_file, check_lora_path

        for spec in request.active_loras:
            check_lora_file(check_lora_path(spec.path), None)
        if request.seed < 0:
            request = request.with_(seed=random.randint(0, MAX_SEED))
        return request

    def generate(
        self,
        request: GenerationRequest,
        reporter: Reporter = null_reporter,
        control: RunControl | None = None,
        *,
        on_image: Callable[[Any, int, int], None] | None = None,
    ) -> GenerationResult:
        """Generate ``batch_count × batch_size`` images, write them as PNGs with infotext.

        Raises :class:`Cancelled` when ``control`` is cancelled (checked after every step and
        before every UNet call, so a cancel lands within one step).
        """
        from lora_studio.generation.metadata import build_infotext, save_png

        control = control or RunControl()
        request = self.prepare(request)
        entry = self.model(request.model, reporter, request.base_weights)
        pipe_kind = (
            "inpaint"
            if request.mask or (entry.is_inpainting)
            else ("img2img" if request.init_image else "txt2img")
        )
        pipe = self._variant(entry, pipe_kind)
        reporter(StatusChanged("Applying LoRAs…" if request.active_loras else "Preparing…"))
        # LoRAs on fp8/NF4 weights run beside them in full precision (fusing would round them away).
        fuse = request.fuse_loras and entry.base_weights == "full"
        warnings = entry.stack.apply(request.active_loras, fuse=fuse)
        for text in warnings:
            reporter(StatusChanged(text))
        width, height = self._size(entry, request)
        hires = request.hires if pipe_kind == "txt2img" and not entry.is_flux else None
        if request.hires is not None and hires is None:  # img2img/inpaint already set their own size
            where = "SD models" if entry.is_flux else "text-to-picture"
            reporter(StatusChanged(f"Hires fix works on {where} only; it is skipped here."))
            request = request.with_(hires=None)
        extra = {**(hires.infotext_fields() if hires else {})}
        if entry.is_flux:
            from lora_studio.generation import flux

            flux.check_size(width, height)
            pipe.scheduler = make_flow_scheduler(entry.scheduler_config, request.sampler, request.schedule)
            call_kwargs = flux.encode(pipe, request)
        else:
            from lora_studio.generation import embeddings as ti

            pipe.scheduler = make_scheduler(entry.scheduler_config, request.sampler, request.schedule)
            texts = ti.apply_embeddings(pipe, entry.family, request.prompt, request.negative, self.embedding_dirs)
            embeds = encode_prompts(pipe, texts.prompt, texts.negative, request.clip_skip)
            call_kwargs = {
                **embeds.as_kwargs(),
                "guidance_scale": request.cfg,
                "num_images_per_prompt": request.batch_size,
            }
            if texts.used:
                extra[ti.INFOTEXT_KEY] = ti.format_ti_hashes(texts.used)
        image_kwargs = self._image_kwargs(entry, request, pipe_kind, width, height)
        model_hash = self.model_hash(entry)

        out_dir = Path(request.output_dir)
        paths: list[str] = []
        seeds: list[int] = []
        infos: list[str] = []
        total_images = request.image_count
        hook = entry.denoiser.register_forward_pre_hook(lambda *_: control.raise_if_cancelled())
        started = time.perf_counter()
        try:
            for batch in range(request.batch_count):
                batch_seeds = [
                    (request.seed + batch * request.batch_size + i) % (MAX_SEED + 1)
                    for i in range(request.batch_size)
                ]
                generators = [torch.Generator("cpu").manual_seed(s) for s in batch_seeds]
                callback = self._step_callback(request, reporter, control, batch, (width, height))
                control.checkpoint()
                call = dict(
                    **call_kwargs,
                    **image_kwargs,
                    num_inference_steps=request.steps,
                    generator=generators,
                    callback_on_step_end=callback,
                )
                if hires is not None:
                    from lora_studio.generation.hires_pass import generate_hires

                    def between(n: int = batch) -> None:
                        control.checkpoint()
                        reporter(StatusChanged(f"Hires fix: second pass ({n + 1}/{request.batch_count})…"))

                    images = generate_hires(pipe, self._variant(entry, "img2img"), hires, call, width, height, between)
                else:
                    images = pipe(**call, output_type="pil").images
                for i, image in enumerate(images):
                    index = batch * request.batch_size + i
                    info = build_infotext(request, entry, batch_seeds[i], width, height, model_hash, extra)
                    path = save_png(image, out_dir, request, index, batch_seeds[i], info)
                    paths.append(str(path))
                    seeds.append(batch_seeds[i])
                    infos.append(info)
                    if on_image is not None:
                        on_image(image, index, batch_seeds[i])
                    reporter(ImageReady(str(path), index, batch_seeds[i], info))
        finally:
            hook.remove()
        log.info("generated %d image(s) in %.2f s", total_images, time.perf_counter() - started)
        return GenerationResult(tuple(paths), tuple(seeds), tuple(infos), tuple(warnings))

    def _size(self, entry: ModelEntry, request: GenerationRequest) -> tuple[int, int]:
        width, height = request.width, request.height
        if (width is None or height is None) and request.init_image:
            from PIL import Image

            with Image.open(request.init_image) as im:
                iw, ih = im.size
            width, height = width or max(8, iw // 8 * 8), height or max(8, ih // 8 * 8)
        native = entry.native_size
        return int(width or native), int(height or native)

    def _image_kwargs(
        self, entry: ModelEntry, request: GenerationRequest, kind: str, width: int, height: int
    ) -> dict[str, Any]:
        from PIL import Image, ImageOps

        def load(path: str, mode: str) -> Image.Image:
            try:
                with Image.open(path) as im:
                    upright = ImageOps.exif_transpose(im)
                    return upright.convert(mode).resize((width, height), Image.Resampling.LANCZOS)
            except OSError as exc:
                raise GenerationError(f"Cannot read the image “{Path(path).name}”: {exc}") from exc

        kwargs: dict[str, Any] = {}
        if entry.family in (ModelFamily.SDXL, ModelFamily.FLUX) or kind == "txt2img" or kind == "inpaint":
            kwargs.update(width=width, height=height)
        if kind == "txt2img":
            return kwargs
        if request.init_image:
            kwargs["image"] = load(request.init_image, "RGB")
            kwargs["strength"] = request.strength
        else:  # an inpainting model used for txt2img: everything is "masked"
            kwargs["image"] = Image.new("RGB", (width, height), (127, 127, 127))
            kwargs["strength"] = 1.0
        if kind == "inpaint":
            kwargs["mask_image"] = (
                load(request.mask, "L") if request.mask else Image.new("L", (width, height), 255)
            )
        if kind == "img2img" and not entry.is_flux:
            kwargs.pop("width", None)
            kwargs.pop("height", None)
        return kwargs

    def _step_callback(
        self,
        request: GenerationRequest,
        reporter: Reporter,
        control: RunControl,
        batch: int,
        size: tuple[int, int] = (0, 0),
    ) -> Callable[..., dict[str, Any]]:
        from lora_studio.core.events import PreviewReady

        entry = self._models.get(self._key(request.model, request.base_weights))
        family_sdxl = bool(entry and entry.family == ModelFamily.SDXL)
        is_flux = bool(entry and entry.is_flux)

        def preview(pipe: Any, latents: Any) -> bytes:
            if is_flux:
                from lora_studio.generation import flux

                return flux.preview_png(pipe, latents[0], *size)
            return latents_to_preview_png(latents[0], family_sdxl)

        def on_step_end(pipe: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            total = int(getattr(pipe, "num_timesteps", 0) or request.steps)
            done = step + 1
            reporter(Progress(batch * total + done, total * request.batch_count, f"Step {done}/{total}"))
            if request.preview_every and (done % request.preview_every == 0) and done < total:
                latents = kwargs.get("latents")
                if latents is not None:
                    reporter(PreviewReady(done, total, preview(pipe, latents)))
            control.checkpoint()
            return {}

        return on_step_end


__all__ = ["Cancelled", "GenerationEngine", "ModelEntry", "load_model"]
