"""FLUX.1 captions -> conditioning: T5-XXL token states and the CLIP-L pooled vector.

:class:`FluxTextEncoder` has the interface of :class:`~lora_studio.training.encoding.TextEncoder`
(``encode(captions) -> (hidden, pooled)``), so the per-caption :class:`TextCache` works with it.
T5 is always frozen: when CLIP-L is trained its outputs are memoised per caption anyway.
:class:`DiskTextCache` also keeps the outputs on disk (sd-scripts'
``cache_text_encoder_outputs_to_disk``): a later run with the same encoders and captions needs no
encoder work at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.fileio import atomic_path
from lora_studio.training.encoding import Conditioning, TextCache


class FluxTextEncoder:
    """Captions -> (T5 states [B, L, 4096], CLIP-L pooled [B, 768]) for FLUX."""

    def __init__(
        self,
        tokenizers: list[Any],  # [CLIP tokenizer, T5 tokenizer]
        encoders: list[torch.nn.Module],  # [CLIP-L, T5-XXL]; CLIP may be DDP-wrapped when trained
        *,
        max_length: int,
        attn_mask: bool,
        memo_t5: bool = False,
    ) -> None:
        self.tokenizers = tokenizers
        self.encoders = encoders
        self.max_length = max_length
        self.attn_mask = attn_mask
        self._t5_memo: dict[str, torch.Tensor] | None = {} if memo_t5 else None

    def t5_ids(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(token ids, attention mask) [B, max_length], padded as FLUX pipelines pad."""
        out = self.tokenizers[1](
            captions, padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt"
        )
        return out.input_ids, out.attention_mask

    def t5_mask(self, captions: list[str]) -> torch.Tensor:
        """Which T5 tokens are real (not padding) [B, max_length] bool; no encoder needed."""
        return self.t5_ids(captions)[1].bool()

    def _t5(self, captions: list[str]) -> torch.Tensor:
        t5 = self.encoders[1]
        device = next(t5.parameters()).device
        ids, mask = self.t5_ids(captions)
        with torch.no_grad():
            kwargs = {"attention_mask": mask.to(device)} if self.attn_mask else {}
            return t5(ids.to(device), **kwargs)[0]

    def _t5_memoised(self, captions: list[str]) -> torch.Tensor:
        memo = self._t5_memo
        if memo is None:
            return self._t5(captions)
        missing = list(dict.fromkeys(c for c in captions if c not in memo))
        if missing:
            for cap, row in zip(missing, self._t5(missing)):
                memo[cap] = row.detach().cpu()
        device = next(self.encoders[1].parameters()).device
        return torch.stack([memo[c] for c in captions]).to(device)

    def _clip_pooled(self, captions: list[str]) -> torch.Tensor:
        clip = self.encoders[0]
        base = getattr(clip, "module", clip)
        tok = self.tokenizers[0]
        ids = tok(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        out = clip(ids.to(next(base.parameters()).device), output_hidden_states=False)
        return out.pooler_output

    def encode(self, captions: list[str]) -> Conditioning:
        hidden = self._t5_memoised(captions)
        pooled = self._clip_pooled(captions)
        return hidden, pooled.to(hidden.device)


def encoder_identity(modules: list[torch.nn.Module], extra: str) -> str:
    """A short fingerprint of text encoders' configs and weights (sums per tensor) plus ``extra``."""
    import json

    h = hashlib.sha256(extra.encode())
    for module in modules:
        config = getattr(module, "config", None)
        as_dict = config.to_dict() if config is not None and hasattr(config, "to_dict") else dict(config or {})
        h.update(json.dumps(as_dict, sort_keys=True, default=str).encode())
        with torch.no_grad():
            for name, t in sorted(module.state_dict().items()):
                d = t.detach().double()
                h.update(f"{name}:{tuple(t.shape)}:{t.dtype}:{d.sum().item():.10e}:{d.abs().sum().item():.10e}".encode())
    return h.hexdigest()[:16]


class DiskTextCache(TextCache):
    """A :class:`TextCache` whose entries are also files in ``folder`` (one per caption), keyed by
    the caption and the encoders' identity, so they are never stale and are reused across runs."""

    def __init__(self, encoder: Any, folder: Path, identity: str) -> None:
        super().__init__(encoder)
        self.folder = folder
        self.identity = identity
        self.disk_hits = 0

    def _path(self, caption: str) -> Path:
        key = hashlib.sha256(f"{self.identity}|{caption}".encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.safetensors"

    def _load(self, caption: str) -> bool:
        path = self._path(caption)
        if caption in self._memo or not path.exists():
            return caption in self._memo
        from safetensors.torch import load_file

        try:
            data = load_file(path)
        except Exception:  # a damaged entry is recomputed
            return False
        self._memo[caption] = (data["hidden"], data.get("pooled"))
        self.disk_hits += 1
        return True

    @torch.no_grad()
    def encode(self, captions: list[str]) -> Conditioning:
        from safetensors.torch import save_file

        new = [c for c in dict.fromkeys(captions) if not self._load(c)]
        result = super().encode(captions)
        for caption in new:
            hidden, pooled = self._memo[caption]
            tensors = {"hidden": hidden.cpu().contiguous()}
            if pooled is not None:
                tensors["pooled"] = pooled.cpu().contiguous()
            with atomic_path(self._path(caption)) as tmp:
                save_file(tensors, str(tmp))
        return result
