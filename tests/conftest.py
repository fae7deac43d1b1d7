"""Shared test set-up: headless Qt, offline hub, a throw-away data folder, tiny models built once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports Qt or the hub libraries.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = Path(tempfile.mkdtemp(prefix="lora-studio-test-home-"))
os.environ["LORA_STUDIO_HOME"] = str(_HOME)
os.environ.setdefault("OMP_NUM_THREADS", "2")
# The model download (the app's one way online) goes to this hub: a closed port on this machine, so
# no test can reach the internet; the download tests start their own stand-in hub.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"

from lora_studio.core.paths import set_offline_environment  # noqa: E402

set_offline_environment()


@pytest.fixture(scope="session")
def data_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def tiny_sd1_dir(tmp_path_factory) -> Path:
    """A tiny SD1-like model saved as a diffusers folder."""
    from lora_studio.diffusion.tiny import save_tiny_diffusers

    return save_tiny_diffusers("sd1", tmp_path_factory.mktemp("tiny") / "tiny-sd1")


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory) -> Path:
    """A tiny SDXL-like model saved as a diffusers folder."""
    from lora_studio.diffusion.tiny import save_tiny_diffusers

    return save_tiny_diffusers("sdxl", tmp_path_factory.mktemp("tiny") / "tiny-sdxl")
