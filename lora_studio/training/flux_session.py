"""FLUX.1 training: the :class:`TrainingSession` of a FLUX pipeline.

What differs from SD/SDXL: the denoiser is ``pipeline.transformer`` (kept under the component name
``"unet"`` that the loop, the state files and the LoRA writer use for "the denoiser"), text comes
from CLIP-L (pooled, optionally trained) and T5-XXL (token states, always frozen), and the loss is
flow matching on packed latents (:mod:`lora_studio.training.flow_loss`) with the distilled
guidance the transformer of FLUX.1-dev takes as an input.

The LoRA modules sit on every Linear layer of the double- and single-stream blocks: the layers
sd-scripts' ``networks.lora_flux`` trains (its fused ``qkv`` / ``linear1`` are diffusers'
separate ``to_q``/``to_k``/``to_v`` (+ ``proj_mlp``), joined again when the file is written).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, cast

import torch

from lora_studio.core import paths
from lora_studio.core.errors import ConfigError
from lora_studio.core.events import Progress, Reporter
from lora_studio.diffusion.base_weights import BaseWeights
from lora_studio.diffusion.memory import move_except_swapped, store_base_weights, swap_blocks
from lora_studio.training import data as D
from lora_studio.training import flow_loss as F
from lora_studio.training.config import TrainConfig
from lora_studio.training.encoding import TextCache
from lora_studio.training.flux_text import DiskTextCache, FluxTextEncoder, encoder_identity
from lora_studio.training.losses import masked_mean
from lora_studio.training.network import Targets, add_lora, text_encoder_targets
from lora_studio.training.session import TrainingSession, _plain, torch_dtype

log = logging.getLogger(__name__)

_BLOCK_PREFIXES = ("transformer_blocks.", "single_transformer_blocks.")


def flux_targets(transformer: torch.nn.Module) -> Targets:
    """Every Linear of the double- and single-stream blocks (sd-scripts' lora_flux module set)."""
    names = [
        n
        for n, m in transformer.named_modules()
        if isinstance(m, torch.nn.Linear) and n.startswith(_BLOCK_PREFIXES) and ".lora_" not in n
    ]
    return Targets(linear=names)


def t5_max_length(config: TrainConfig, transformer: torch.nn.Module) -> int:
    """sd-scripts: 512 tokens for dev, 256 for schnell unless set."""
    n = config.flux.t5xxl_max_token_length
    if n > 0:
        return n
    return 512 if getattr(transformer.config, "guidance_embeds", True) else 256


class FluxTrainingSession(TrainingSession):
    """A :class:`TrainingSession` for a diffusers ``FluxPipeline``."""

    @property
    def unet(self) -> Any:  # the denoiser, under the name the loop and writers use
        return self.pipeline.transformer

    @property
    def text_encoders(self) -> list[Any]:
        return [self.pipeline.text_encoder, self.pipeline.text_encoder_2]

    @property
    def te_names(self) -> list[str]:
        return ["text_encoder", "text_encoder_2"]

    @property
    def guidance_embeds(self) -> bool:
        return bool(getattr(self.unet.config, "guidance_embeds", False))

    def setup_network(self) -> None:
        cfg, run, mem = self.config, self.config.run, self.config.memory
        pipe = self.pipeline
        transformer = pipe.transformer
        weight_dtype = torch_dtype(run.precision)
        if self.device.type == "cpu" and weight_dtype == torch.float16:
            weight_dtype = torch.float32
        for module in (pipe.vae, transformer, *self.text_encoders):
            module.requires_grad_(False)
            module.eval()
        quantized = mem.unet_weights in (BaseWeights.INT8, BaseWeights.NF4)
        if mem.blocks_to_swap > 0 and quantized:
            raise ConfigError(
                "Block swapping cannot be combined with 8-bit or 4-bit base weights.",
                hint="Use fp8 base weights with block swapping, or turn block swapping off.",
            )
        # The transformer is prepared in system memory and only then moved, part by part, so the
        # swapped blocks never visit the card and a 24 GB model never needs 24 GB of it.
        transformer.to(dtype=weight_dtype)
        if quantized:
            transformer.to(self.device)
            store_base_weights(transformer, mem.unet_weights, weight_dtype)
        te_device = torch.device("cpu") if self.text_cache_complete() else self.device
        clip, t5 = self.text_encoders
        trains_clip = cfg.trains_text_encoder
        clip.to(te_device, weight_dtype)
        t5.to(te_device, torch.float32 if weight_dtype == torch.float16 else weight_dtype)  # T5 overflows in fp16
        store_base_weights(t5, mem.text_encoder_weights, weight_dtype)
        if not trains_clip:
            store_base_weights(clip, mem.text_encoder_weights, weight_dtype)
        vae_dtype = torch.float32 if weight_dtype == torch.float16 else weight_dtype
        pipe.vae.to(self.device, vae_dtype)
        self.targets["unet"] = flux_targets(transformer)
        add_lora(transformer, self.targets["unet"], cfg.network)
        self.trained["unet"] = transformer
        if not quantized:
            store_base_weights(transformer, mem.unet_weights, weight_dtype)
        if trains_clip:
            self.targets["text_encoder"] = text_encoder_targets(clip)
            add_lora(clip, self.targets["text_encoder"], cfg.network)
            self.trained["text_encoder"] = clip
        if cfg.network.init_weights:
            from lora_studio.training.network import load_start_weights

            n = load_start_weights(
                cfg.network.init_weights,
                self.trained,
                self.targets,
                cfg.network,
                family=self.family,
                unet_config=dict(transformer.config),
            )
            log.info("continuing from %s (%d modules)", cfg.network.init_weights, n)
        for module in self.trained.values():
            for p in module.parameters():
                if p.requires_grad:
                    p.data = p.data.float()
            module.train()
        if run.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
            if trains_clip:
                clip.gradient_checkpointing_enable()
        self.swapper = swap_blocks(transformer, mem.blocks_to_swap, self.device)
        move_except_swapped(transformer, self.swapper, self.device)
        self.noise_scheduler = None  # flow matching draws its levels itself (flow_loss)

    def setup_encoders(self) -> None:
        cfg = self.config
        pipe = self.pipeline
        encs = [self.trained.get(n, e) for n, e in zip(self.te_names, self.text_encoders)]
        text = FluxTextEncoder(
            [pipe.tokenizer, pipe.tokenizer_2],
            encs,
            max_length=t5_max_length(cfg, self.unet),
            attn_mask=cfg.flux.apply_t5_attn_mask,
            memo_t5=cfg.trains_text_encoder,
        )
        self.text = cast(Any, text)  # the session's text-encoder slot: same encode() interface
        if not cfg.trains_text_encoder and cfg.dataset.cache_text_encoder_outputs:
            if cfg.flux.cache_text_encoder_outputs_to_disk:
                folder = (
                    Path(cfg.dataset.latent_cache_dir)
                    if cfg.dataset.latent_cache_dir
                    else paths.cache_dir() / "latents"
                ) / "text"
                ident = encoder_identity(self.text_encoders, f"{text.max_length}|{text.attn_mask}")
                self.text_cache = DiskTextCache(text, folder, ident)
            else:
                self.text_cache = TextCache(cast(Any, text))
        self.setup_latent_store()

    def fill_text_cache(self, reporter: Reporter) -> None:
        """Every caption, and every sample prompt, encoded once: the text encoders are then freed
        before the first step even when the run makes samples. T5-XXL is slow on a processor, so
        the encoders visit the card for this when it has room for them next to the transformer."""
        place = self.text_encoders_on(self.device) if self._encoders_fit_on_card() else contextlib.nullcontext()
        with place:
            super().fill_text_cache(reporter)
            if self.text_cache is None or not self.text_cache_complete():
                return
            prompts = list(dict.fromkeys(p.prompt for p in self.config.sample.prompts))
            if prompts:
                with self.autocast():
                    self.text_cache.encode(prompts)
                reporter(Progress(len(prompts), len(prompts), "Caching the sample prompts"))

    def _encoders_fit_on_card(self) -> bool:
        """CUDA only: whether the frozen text encoders fit in the card's free memory (with 1.5 GB
        to spare for their activations)."""
        if self.device.type != "cuda" or not self.text_cache_complete():
            return False
        from lora_studio.diffusion.memory import held_bytes

        free, _total = torch.cuda.mem_get_info(self.device)
        need = sum(held_bytes(te) for te in self.text_encoders) + int(1.5 * 2**30)
        return free > need

    def releases_text_encoders(self, keep_pipeline: bool) -> bool:
        """Whether the run frees T5/CLIP before the first step (all their outputs are cached)."""
        return self.text_cache_complete() and not keep_pipeline

    def generate_samples(
        self, out_dir: Path, *, step: int, epoch: int, trained_modules: list[torch.nn.Module]
    ) -> list[tuple[int, str, Path]]:
        from lora_studio.training.flux_sampling import generate_flux_samples

        return generate_flux_samples(
            self, self.config, out_dir, step=step, epoch=epoch, trained_modules=trained_modules
        )

    def prompt_conditioning(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(T5 states, CLIP pooled) [1, ...] of a sample prompt, from the cache when it has it."""
        if self.text_cache is not None:
            hidden, pooled = self.text_cache.encode([prompt])
        else:
            assert self.text is not None
            hidden, pooled = self.text.encode([prompt])
        assert pooled is not None
        return hidden, pooled

    @contextlib.contextmanager
    def text_encoders_on(self, device: torch.device) -> Any:
        if self.text_encoders_released:
            yield  # samples use cached prompt outputs
            return
        with super().text_encoders_on(device):
            yield

    def batch_loss(
        self,
        batch: list[D.Sample],
        sources: list[D.Source],
        gen: torch.Generator,
        *,
        augment: bool = True,
        pixels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean flow-matching loss of one micro-batch (differentiable)."""
        cfg = self.config
        latents = self.batch_latents(batch, sources, pixels)
        dataset_cfg = cfg.dataset if augment else _plain(cfg)
        captions = [D.caption_for(sources[s.source], s, dataset_cfg) for s in batch]
        b, c, h, w = latents.shape
        noise = torch.randn(latents.shape, generator=gen, dtype=torch.float32)
        if cfg.loss.noise_offset > 0:
            noise = noise + cfg.loss.noise_offset * torch.randn((b, c, 1, 1), generator=gen)
        sigmas = F.draw_sigmas(cfg.flux, b, (h, w), gen).to(self.device)
        noise = noise.to(self.device)
        s4 = sigmas.view(-1, 1, 1, 1)
        noisy = (1 - s4) * latents + s4 * noise
        weights = torch.tensor(
            [cfg.loss.prior_loss_weight if sources[s.source].is_reg else 1.0 for s in batch], device=self.device
        )
        with self.autocast():
            hidden, pooled = self.conditioning(captions)
            assert pooled is not None  # CLIP-L's pooled output
            pred = self.denoise(noisy, sigmas, hidden, pooled, captions)
        pred, weighting = F.apply_prediction_type(cfg.flux, pred.float(), noisy, s4)
        err = (pred - (noise - latents)) ** 2
        if weighting is not None:
            err = err * weighting
        loss = masked_mean(err, self.batch_masks(batch, sources)) * weights
        return loss.mean()

    def denoise(
        self, noisy: torch.Tensor, sigmas: torch.Tensor, hidden: torch.Tensor, pooled: torch.Tensor, captions: list[str]
    ) -> torch.Tensor:
        """The transformer's velocity for latents ``noisy`` [B, C, H, W] at levels ``sigmas`` [B]."""
        b, _, h, w = noisy.shape
        dtype = hidden.dtype
        guidance = None
        if self.guidance_embeds:
            guidance = torch.full((b,), self.config.flux.guidance_scale, device=self.device)
        joint: dict[str, Any] | None = None
        if self.config.flux.apply_t5_attn_mask:
            assert isinstance(self.text, FluxTextEncoder)
            txt = self.text.t5_mask(captions).to(self.device)
            img = torch.ones(b, (h // 2) * (w // 2), dtype=torch.bool, device=self.device)
            joint = {"attention_mask": torch.cat([txt, img], 1)[:, None, None, :]}
        out = self.trained["unet"](
            hidden_states=F.pack_latents(noisy),
            encoder_hidden_states=hidden,
            pooled_projections=pooled,
            timestep=sigmas,
            img_ids=F.image_ids(h, w, self.device, dtype),
            txt_ids=torch.zeros(hidden.shape[1], 3, device=self.device, dtype=dtype),
            guidance=guidance,
            joint_attention_kwargs=joint,
            return_dict=False,
        )[0]
        return F.unpack_latents(out, h, w)

