"""Text and image encoding for training, with the caches that skip it.

* :class:`TextEncoder` turns captions into UNet conditioning with clip skip and long prompts in
  75-token windows (kohya layout: one BOS, 75 tokens per window, one EOS), plus SDXL's pooled
  embedding from the first window.
* :class:`TextCache` memoizes the conditioning per caption string while the text encoders are
  frozen (caption augmentation stays exact: every distinct caption is encoded once).
* :class:`LatentStore` keeps VAE latents in memory or on disk. Disk entries are keyed by the image
  bytes, crop, bucket, flip and the VAE's identity, so they are reused across runs and never stale.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.families import ModelFamily
from lora_studio.core.fileio import atomic_path
from lora_studio.training.config import LatentCache

Conditioning = tuple[torch.Tensor, torch.Tensor | None]  # (hidden states [B, L, D], pooled [B, D] or None)


class TextEncoder:
    """Captions -> conditioning for one model family."""

    def __init__(
        self,
        family: ModelFamily,
        tokenizers: list[Any],
        encoders: list[torch.nn.Module],
        *,
        clip_skip: int = 1,
        max_token_length: int = 75,
    ) -> None:
        self.family = family
        self.tokenizers = tokenizers
        self.encoders = encoders  # may be DDP-wrapped when trained
        self.clip_skip = clip_skip
        self.chunks = max(1, max_token_length // 75)

    def token_ids(self, tokenizer: Any, captions: list[str]) -> torch.Tensor:
        """[B, chunks, 77] token ids."""
        length = self.chunks * 75 + 2
        full = tokenizer(
            captions, padding="max_length", max_length=length, truncation=True, return_tensors="pt"
        ).input_ids
        if self.chunks == 1:
            return full[:, None]
        bos = full[:, :1]
        eos = torch.full_like(bos, tokenizer.eos_token_id)
        windows = [
            torch.cat([bos, full[:, 1 + 75 * i : 1 + 75 * (i + 1)], eos], 1) for i in range(self.chunks)
        ]
        return torch.stack(windows, 1)

    def _run(self, index: int, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        enc = self.encoders[index]
        base = getattr(enc, "module", enc)
        b, n, t = ids.shape
        device = next(base.parameters()).device
        out = enc(ids.reshape(b * n, t).to(device), output_hidden_states=True)
        if self.family == ModelFamily.SDXL:
            hidden = out.hidden_states[-(self.clip_skip + 1)]
        elif self.clip_skip > 1:
            inner = getattr(base, "text_model", base)
            hidden = inner.final_layer_norm(out.hidden_states[-self.clip_skip])  # type: ignore[operator]  # a CLIP text model
        else:
            hidden = out.last_hidden_state
        pooled = getattr(out, "text_embeds", None)
        hidden = hidden.reshape(b, n, t, -1)
        if n == 1:
            merged = hidden[:, 0]
        else:
            inner_tokens = [hidden[:, i, 1:-1] for i in range(n)]
            merged = torch.cat([hidden[:, 0, :1], *inner_tokens, hidden[:, -1, -1:]], 1)
        if pooled is not None:
            pooled = pooled.reshape(b, n, -1)[:, 0]
        return merged, pooled

    def encode(self, captions: list[str]) -> Conditioning:
        hiddens, pooled = [], None
        for i, tok in enumerate(self.tokenizers):
            h, p = self._run(i, self.token_ids(tok, captions))
            hiddens.append(h)
            if p is not None:
                pooled = p
        hidden = hiddens[0] if len(hiddens) == 1 else torch.cat(hiddens, -1)
        return hidden, pooled


class TextCache:
    """Per-caption memo of a frozen text encoder's outputs (CPU-side, bounded)."""

    def __init__(self, encoder: TextEncoder, max_entries: int = 20000) -> None:
        self.encoder = encoder
        self.max_entries = max_entries
        self._memo: OrderedDict[str, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self.hits = 0

    def held(self) -> list[torch.Tensor]:
        """The cached conditioning tensors (for memory accounting)."""
        return [t for pair in self._memo.values() for t in pair if t is not None]

    @torch.no_grad()
    def encode(self, captions: list[str]) -> Conditioning:
        missing = list(dict.fromkeys(c for c in captions if c not in self._memo))
        if missing:
            hidden, pooled = self.encoder.encode(missing)
            for j, cap in enumerate(missing):
                self._memo[cap] = (hidden[j].detach(), None if pooled is None else pooled[j].detach())
            while len(self._memo) > self.max_entries:
                self._memo.popitem(last=False)
        self.hits += len(captions) - len(missing)
        rows = [self._memo[c] for c in captions]
        hidden = torch.stack([r[0] for r in rows])
        pooled = None if rows[0][1] is None else torch.stack([r[1] for r in rows])  # type: ignore[misc]
        return hidden, pooled


def vae_identity(vae: torch.nn.Module) -> str:
    """A short fingerprint of a VAE's config and weights (cheap: sums per tensor, not the bytes)."""
    h = hashlib.sha256(json.dumps(dict(getattr(vae, "config", {})), sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, p in sorted(vae.state_dict().items()):
            t = p.detach().double()
            h.update(f"{name}:{tuple(p.shape)}:{t.sum().item():.10e}:{t.abs().sum().item():.10e}".encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_latents(vae: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [-1, 1] -> scaled latents (the distribution's mean: deterministic, like a cache)."""
    p = next(vae.parameters())
    dist = vae.encode(pixels.to(p.device, p.dtype)).latent_dist  # type: ignore[operator]  # an AutoencoderKL
    latents = dist.mode()
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return ((latents - shift) * vae.config.scaling_factor).float()  # type: ignore[union-attr]


class LatentStore:
    """Latents by key: in memory (this run) or on disk (reused across runs)."""

    def __init__(self, mode: LatentCache, folder: Path | None, vae_id: str) -> None:
        self.mode = mode
        self.folder = folder
        self.vae_id = vae_id
        self._memory: dict[str, torch.Tensor] = {}
        self.disk_hits = 0

    @property
    def enabled(self) -> bool:
        return self.mode != LatentCache.NONE

    def key(self, image_digest: str, crop: Any, bucket: tuple[int, int], flip: bool) -> str:
        raw = f"{image_digest}|{crop}|{bucket}|{int(flip)}|{self.vae_id}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.safetensors"

    def held(self) -> list[torch.Tensor]:
        """The latents kept in memory (for memory accounting)."""
        return list(self._memory.values())

    def get(self, key: str) -> torch.Tensor | None:
        if key in self._memory:
            return self._memory[key]
        if self.mode == LatentCache.DISK:
            path = self._path(key)
            if path.exists():
                from safetensors.torch import load_file

                try:
                    latents = load_file(path)["latents"]
                except Exception:  # a damaged entry is recomputed
                    return None
                self._memory[key] = latents
                self.disk_hits += 1
                return latents
        return None

    def put(self, key: str, latents: torch.Tensor) -> None:
        latents = latents.detach().cpu().contiguous()
        self._memory[key] = latents
        if self.mode == LatentCache.DISK:
            from safetensors.torch import save_file

            with atomic_path(self._path(key)) as tmp:
                save_file({"latents": latents}, str(tmp))
