"""A training session: the loaded model with LoRA adapters, the data, the encoders and caches.

``TrainingSession`` knows how to turn a list of :class:`~lora_studio.training.data.Sample` into
a loss. The loop (events, saving, control) lives in ``trainer.py``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lora_studio.core import paths
from lora_studio.core.errors import ConfigError
from lora_studio.core.events import Progress, Reporter
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.base_weights import BaseWeights
from lora_studio.diffusion.memory import store_base_weights, swap_blocks
from lora_studio.training import data as D
from lora_studio.training.buckets import cover_resize
from lora_studio.training.config import LatentCache, Precision, TrainConfig
from lora_studio.training.encoding import LatentStore, TextCache, TextEncoder, encode_latents, vae_identity
from lora_studio.training.losses import draw_noise, make_noise_scheduler, per_sample_loss
from lora_studio.training.network import Targets, add_lora, text_encoder_targets, unet_targets

log = logging.getLogger(__name__)

_DTYPES = {Precision.FP32: torch.float32, Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}


def torch_dtype(p: Precision) -> torch.dtype:
    return _DTYPES[Precision(p)]


@dataclass
class TrainingSession:
    config: TrainConfig
    pipeline: Any
    family: ModelFamily
    prediction: Prediction
    device: torch.device
    sources: list[D.Source]
    val_sources: list[D.Source]
    targets: dict[str, Targets] = field(default_factory=dict)
    trained: dict[str, torch.nn.Module] = field(default_factory=dict)  # component -> (maybe DDP) module
    noise_scheduler: Any = None
    text: TextEncoder | None = None
    text_cache: TextCache | None = None
    latents: LatentStore | None = None
    swapper: Any = None  # diffusion.memory.BlockSwapper when blocks are swapped
    text_encoders_released: bool = False

    # -- set-up ------------------------------------------------------------------------------------
    @property
    def unet(self) -> Any:
        return self.pipeline.unet

    @property
    def text_encoders(self) -> list[Any]:
        encs = [self.pipeline.text_encoder]
        if self.family == ModelFamily.SDXL:
            encs.append(self.pipeline.text_encoder_2)
        return encs

    @property
    def te_names(self) -> list[str]:
        return ["text_encoder", "text_encoder_2"][: len(self.text_encoders)]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        p = Precision(self.config.run.precision)
        if p == Precision.FP32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch_dtype(p))

    def setup_network(self) -> None:
        """Freeze the model, cast frozen weights, add LoRA adapters, set memory options."""
        cfg, run = self.config, self.config.run
        pipe = self.pipeline
        weight_dtype = torch_dtype(run.precision)
        if self.device.type == "cpu" and weight_dtype == torch.float16:
            weight_dtype = torch.float32  # fp16 kernels are missing on CPU; autocast still runs fp16 paths
        for module in (pipe.vae, pipe.unet, *self.text_encoders):
            module.requires_grad_(False)
            module.eval()
        mem = cfg.memory
        if mem.blocks_to_swap > 0 and mem.unet_weights in (BaseWeights.INT8, BaseWeights.NF4):
            raise ConfigError(
                "Block swapping cannot be combined with 8-bit or 4-bit base weights.",
                hint="Use fp8 base weights with block swapping, or turn block swapping off.",
            )
        pipe.unet.to(self.device, weight_dtype)
        quantized = mem.unet_weights in (BaseWeights.INT8, BaseWeights.NF4)
        if quantized:  # before the adapters: peft wraps the bitsandbytes layers
            store_base_weights(pipe.unet, mem.unet_weights, weight_dtype)
        # Text encoders whose outputs are all cached up front never go to the device: they encode
        # the captions once in system memory and are freed before the first step.
        te_device = torch.device("cpu") if self.text_cache_complete() else self.device
        for te in self.text_encoders:
            te.to(te_device, weight_dtype)
            if not cfg.trains_text_encoder:
                store_base_weights(te, mem.text_encoder_weights, weight_dtype)
        vae_dtype = torch.float32 if weight_dtype == torch.float16 else weight_dtype
        pipe.vae.to(self.device, vae_dtype)
        self.targets["unet"] = unet_targets(pipe.unet, cfg.network.target)
        add_lora(pipe.unet, self.targets["unet"], cfg.network)
        self.trained["unet"] = pipe.unet
        if not quantized:  # fp8 after the adapters, which keep their own weights in fp32
            store_base_weights(pipe.unet, mem.unet_weights, weight_dtype)
        if cfg.trains_text_encoder:
            for name, te in zip(self.te_names, self.text_encoders):
                self.targets[name] = text_encoder_targets(te)
                add_lora(te, self.targets[name], cfg.network)
                self.trained[name] = te
        if cfg.network.init_weights:
            from lora_studio.training.network import load_start_weights

            n = load_start_weights(
                cfg.network.init_weights,
                self.trained,
                self.targets,
                cfg.network,
                family=self.family,
                unet_config=dict(pipe.unet.config),
            )
            log.info("continuing from %s (%d modules)", cfg.network.init_weights, n)
        for module in self.trained.values():
            for p in module.parameters():
                if p.requires_grad:
                    p.data = p.data.float()
            module.train()
        if run.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
            for name in self.te_names:
                if name in self.trained:
                    self.trained[name].gradient_checkpointing_enable()  # type: ignore[operator]  # a transformers text encoder
        self.swapper = swap_blocks(pipe.unet, mem.blocks_to_swap, self.device)
        if not run.sdpa:
            from diffusers.models.attention_processor import AttnProcessor

            pipe.unet.set_attn_processor(AttnProcessor())
        self.noise_scheduler = make_noise_scheduler(
            dict(pipe.scheduler.config), self.prediction, cfg.model.zero_terminal_snr
        )

    def text_cache_complete(self) -> bool:
        """Whether every caption's conditioning is encoded once before training (frozen text
        encoders, cached outputs, captions that never change)."""
        cfg, d = self.config, self.config.dataset
        return (
            not cfg.trains_text_encoder
            and d.cache_text_encoder_outputs
            and not d.shuffle_tags
            and d.caption_dropout == 0
            and d.tag_dropout == 0
        )

    def release_text_encoders(self) -> None:
        """Free the frozen text encoders' weights (their outputs are all cached)."""
        for te in self.text_encoders:
            for t in [*te.parameters(), *te.buffers()]:
                # Emptied in place (not module.to("meta"): quantised parameters cannot be rebuilt
                # that way); any later use fails on the empty shape instead of computing garbage.
                t.data = torch.empty(0, dtype=t.dtype, device=t.device)
        self.text_encoders_released = True

    @contextlib.contextmanager
    def text_encoders_on(self, device: torch.device) -> Any:
        """Move text encoders kept in system memory to ``device`` for the block (sampling)."""
        moved = [te for te in self.text_encoders if next(te.parameters()).device != device]
        for te in moved:
            te.to(device)
        try:
            yield
        finally:
            for te in moved:
                te.to("cpu")

    def setup_encoders(self) -> None:
        cfg = self.config
        toks = [self.pipeline.tokenizer] + (
            [self.pipeline.tokenizer_2] if self.family == ModelFamily.SDXL else []
        )
        encs = [self.trained.get(n, e) for n, e in zip(self.te_names, self.text_encoders)]
        self.text = TextEncoder(
            self.family,
            toks,
            encs,
            clip_skip=cfg.model.clip_skip,
            max_token_length=cfg.dataset.max_token_length,
        )
        if not cfg.trains_text_encoder and cfg.dataset.cache_text_encoder_outputs:
            self.text_cache = TextCache(self.text)
        mode = LatentCache(cfg.dataset.latent_cache)
        folder = None
        if mode == LatentCache.DISK:
            folder = (
                Path(cfg.dataset.latent_cache_dir)
                if cfg.dataset.latent_cache_dir
                else paths.cache_dir() / "latents"
            )
        self.latents = LatentStore(
            mode, folder, vae_identity(self.pipeline.vae) if mode != LatentCache.NONE else ""
        )

    def fill_latent_cache(self, reporter: Reporter) -> None:
        """Encode every (image, flip) the run can ask for, once; disk entries from earlier runs are reused."""
        store = self.latents
        if store is None or not store.enabled:
            return
        flips = (False, True) if self.config.dataset.flip else (False,)
        todo = [(s, f) for s in self.sources + self.val_sources for f in flips]
        missing = [(s, f) for s, f in todo if store.get(self._latent_key(s, f)) is None]
        bs = max(1, self.config.run.batch_size)
        groups: dict[tuple[int, int], list[tuple[D.Source, bool]]] = {}
        for s, f in missing:
            groups.setdefault(s.bucket, []).append((s, f))
        done = len(todo) - len(missing)
        for entries in groups.values():
            for k in range(0, len(entries), bs):
                chunk = entries[k : k + bs]
                pixels = torch.stack([D.load_pixels(s, f, self.config.dataset) for s, f in chunk])
                lat = encode_latents(self.pipeline.vae, pixels)
                for (s, f), one in zip(chunk, lat):
                    store.put(self._latent_key(s, f), one)
                done += len(chunk)
                reporter(Progress(done, len(todo), "Caching latents"))

    def fill_text_cache(self, reporter: Reporter) -> None:
        """Encode every caption up front when captions never change (no shuffle or dropout), so
        the text encoders do no work during training; otherwise the cache fills as captions appear."""
        if self.text_cache is None or not self.text_cache_complete():
            return
        plain = _plain(self.config)
        captions = list(
            dict.fromkeys(
                D.caption_for(s, D.Sample(s.index, False, 0), plain) for s in self.sources + self.val_sources
            )
        )
        bs = 16
        for k in range(0, len(captions), bs):
            with self.autocast():
                self.text_cache.encode(captions[k : k + bs])
            reporter(Progress(min(k + bs, len(captions)), len(captions), "Caching text encoder outputs"))

    def _latent_key(self, source: D.Source, flip: bool) -> str:
        assert self.latents is not None
        return self.latents.key(D.image_digest(source.item.training_image), source.item.crop, source.bucket, flip)

    # -- batches -----------------------------------------------------------------------------------
    def batch_latents(
        self, batch: list[D.Sample], sources: list[D.Source], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Latents of a batch: from the cache, else encoded in one VAE call (``pixels`` when a
        loader already decoded them)."""
        store = self.latents
        if store is not None and store.enabled:
            found = [store.get(self._latent_key(sources[s.source], s.flip)) for s in batch]
            if all(f is not None for f in found):
                return torch.stack(found).to(self.device)  # type: ignore[arg-type]
        if pixels is None:
            pixels = torch.stack(
                [
                    D.load_pixels(
                        sources[s.source], s.flip, self.config.dataset, jitter_seed=s.aug_seed ^ 0x5EED
                    )
                    for s in batch
                ]
            )
        return encode_latents(self.pipeline.vae, pixels).to(self.device)

    def batch_masks(self, batch: list[D.Sample], sources: list[D.Source]) -> torch.Tensor | None:
        if not self.config.loss.masked_loss:
            return None
        masks = [D.load_mask(sources[s.source], s.flip, self.config.dataset) for s in batch]
        if all(m is None for m in masks):
            return None
        b0 = sources[batch[0].source].bucket
        ones = torch.ones(1, b0[1] // 8, b0[0] // 8)
        return torch.stack([ones if m is None else m for m in masks]).to(self.device)

    def conditioning(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert self.text is not None
        if self.text_cache is not None:
            hidden, pooled = self.text_cache.encode(captions)
        else:
            hidden, pooled = self.text.encode(captions)
        return hidden.to(self.device), None if pooled is None else pooled.to(self.device)

    def time_ids(self, batch: list[D.Sample], sources: list[D.Source]) -> torch.Tensor:
        """SDXL size/crop conditioning: (orig h, orig w, crop top, crop left, target h, target w)."""
        rows = []
        for smp in batch:
            src = sources[smp.source]
            (rw, rh), (left, top, _, _) = cover_resize(*src.size, src.bucket)
            if smp.flip:
                left = rw - src.bucket[0] - left
            rows.append([src.size[1], src.size[0], top, left, src.bucket[1], src.bucket[0]])
        return torch.tensor(rows, dtype=torch.float32, device=self.device)

    def batch_loss(
        self,
        batch: list[D.Sample],
        sources: list[D.Source],
        gen: torch.Generator,
        *,
        augment: bool = True,
        pixels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean loss of one micro-batch (differentiable)."""
        cfg = self.config
        latents = self.batch_latents(batch, sources, pixels)
        if augment:
            captions = [D.caption_for(sources[s.source], s, cfg.dataset) for s in batch]
        else:
            captions = [D.caption_for(sources[s.source], s, _plain(cfg)) for s in batch]
        noise, timesteps = draw_noise(
            latents, gen, self.noise_scheduler.config.num_train_timesteps, cfg.loss.noise_offset
        )
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        weights = torch.tensor(
            [cfg.loss.prior_loss_weight if sources[s.source].is_reg else 1.0 for s in batch],
            device=self.device,
        )
        with self.autocast():
            hidden, pooled = self.conditioning(captions)
            added = None
            if self.family == ModelFamily.SDXL:
                added = {"text_embeds": pooled, "time_ids": self.time_ids(batch, sources)}
            unet = self.trained["unet"]
            pred = unet(noisy, timesteps, encoder_hidden_states=hidden, added_cond_kwargs=added).sample
        loss = per_sample_loss(
            pred,
            latents=latents,
            noise=noise,
            timesteps=timesteps,
            scheduler=self.noise_scheduler,
            prediction=self.prediction,
            min_snr_gamma=cfg.loss.min_snr_gamma,
            mask=self.batch_masks(batch, sources),
            weights=weights,
        )
        return loss.mean()

    def fixed_loss(self, sources: list[D.Source], seed: int) -> float:
        """Mean loss over ``sources`` at noise and timesteps fixed by ``seed`` (no augmentation,
        eval mode, RNG untouched): comparable between steps and runs."""
        from lora_studio.training.losses import step_generator
        from lora_studio.training.sampling import isolated

        losses = []
        with isolated([getattr(m, "module", m) for m in self.trained.values()]):
            for i, src in enumerate(sources):
                gen = step_generator(seed, 0, i, 0)
                smp = D.Sample(src.index, False, 0)
                losses.append(float(self.batch_loss([smp], sources, gen, augment=False)))
        return sum(losses) / max(1, len(losses))

    def held_tensors(self, optimizer: Any = None) -> Iterator[torch.Tensor]:
        """Every tensor the session holds: the models (LoRA included), the optimizer's state and
        gradients, and the latent and text caches."""
        from lora_studio.diffusion.memory import module_tensors

        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            module = getattr(self.pipeline, name, None)
            if isinstance(module, torch.nn.Module):
                yield from module_tensors(module)
                yield from (p.grad for p in module.parameters() if p.grad is not None)
        if optimizer is not None:
            for state in optimizer.state.values():
                yield from (v for v in state.values() if isinstance(v, torch.Tensor))
        if self.latents is not None:
            yield from self.latents.held()
        if self.text_cache is not None:
            yield from self.text_cache.held()

    def lora_state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        from peft.utils import get_peft_model_state_dict

        out = {}
        for name, module in self.trained.items():
            base = getattr(module, "module", module)
            out[name] = {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(base).items()}
        return out

    def load_lora_state_dicts(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        from peft.utils import set_peft_model_state_dict

        for name, sd in state.items():
            module = self.trained[name]
            base = getattr(module, "module", module)
            set_peft_model_state_dict(base, sd)
            for p in base.parameters():
                if p.requires_grad:
                    p.data = p.data.float()


def _plain(cfg: TrainConfig) -> Any:
    """Dataset settings without random caption augmentation (for validation)."""
    from dataclasses import replace

    return replace(cfg.dataset, shuffle_tags=False, tag_dropout=0.0, caption_dropout=0.0)
