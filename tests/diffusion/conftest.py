"""Tiny models written once per test session, both as a diffusers folder and as one LDM file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, dict[str, Path]]:
    from lora_studio.diffusion.tiny import save_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {family: save_tiny_model(family, root / family, seed=0) for family in ("sd1", "sdxl")}
