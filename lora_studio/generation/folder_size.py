"""A diffusers model folder's native picture size, read from its config files (torch-free, cheap).

The same numbers the loaded pipeline gives (:attr:`Engine.native_size`), known before loading, so the
Generation tab can show the real "model's own size" of a folder model. Single-file checkpoints don't
say it in a readable way: None for them (the size shows once the model is loaded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _config(folder: Path, part: str) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / part / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def folder_native_size(path: Path) -> int | None:
    """The side in pixels a diffusers folder's model draws at natively, or None when not known."""
    if not (path / "model_index.json").is_file():
        return None
    vae = _config(path, "vae") or {}
    if (path / "transformer").is_dir():  # FLUX.1: the autoencoder's config holds it
        size = vae.get("sample_size")
        return int(size) if isinstance(size, int) and size > 0 else None
    unet = _config(path, "unet") or {}
    latent = unet.get("sample_size")
    blocks = vae.get("block_out_channels")
    if not isinstance(latent, int) or latent <= 0:
        return None
    scale = 2 ** (len(blocks) - 1) if isinstance(blocks, list) and blocks else 8
    return latent * scale
