"""Tiny models written once per test session, both as a diffusers folder and as one LDM file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, dict[str, Path]]:
    from lora_studio.diffusion.tiny import save_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {family: save_tiny_model(family, root / family, seed=0) for family in ("sd1", "sdxl")}


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory) -> dict[str, Path]:
    """A tiny FLUX.1-dev in a ComfyUI/Forge layout: the transformer files (BFL, fp8, all-in-one,
    diffusers folder) in ``models/checkpoints``, clip_l and t5xxl in ``models/text_encoders``, ae in
    ``models/vae``."""
    from lora_studio.diffusion.tiny_flux import save_tiny_flux

    models = tmp_path_factory.mktemp("tiny-flux") / "models"
    files = save_tiny_flux(
        models / "checkpoints", 0, "dev", components_dir=models / "text_encoders", vae_dir=models / "vae"
    )
    return {**files, "models": models}
