"""Where things live: resources, the user data folder, portable mode, model folders.

Portable mode: when a file named ``portable.txt`` sits next to the executable (or the
``LORA_STUDIO_PORTABLE`` environment variable names a folder), every setting, cache and log lives in
that folder, so the app keeps working after the folder is moved or renamed.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

APP_NAME = "LoRAStudio"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resources_dir() -> Path:
    """The folder that holds bundled configs, the tokenizer, icons and styles.

    The project keeps them in its top-level ``resources/`` folder; a build copies what the app
    needs at run time into the package (``lora_studio/resources``: wheels, see
    ``resources/build_resources.py``; the frozen app, see ``packaging/lora_studio.spec``). A source
    checkout or an editable install reads the top-level folder directly.
    """
    if is_frozen():
        base = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
        return base / "lora_studio" / "resources"
    package = Path(__file__).resolve().parent.parent
    built = package / "resources"
    # Look for content, not the folder: a checkout that had the old in-package folder may keep an
    # empty one (with __pycache__) after the files moved out.
    return built if (built / "clip_tokenizer").is_dir() else package.parent / "resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def portable_root() -> Path | None:
    env = os.environ.get("LORA_STUDIO_PORTABLE")
    if env:
        return Path(env).resolve()
    if is_frozen():
        exe_dir = Path(sys.executable).resolve().parent
        for candidate in (exe_dir, exe_dir.parent):
            if (candidate / "portable.txt").exists():
                return candidate
    return None


def data_dir() -> Path:
    """The user data folder: settings, logs, caches, the demo project."""
    env = os.environ.get("LORA_STUDIO_HOME")
    if env:
        path = Path(env)
    elif (root := portable_root()) is not None and os.access(root, os.W_OK):
        path = root / "data"  # (a read-only portable folder, e.g. under Program Files, falls through)
    elif sys.platform == "win32":
        path = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP_NAME
    elif sys.platform == "darwin":
        path = Path.home() / "Library" / "Application Support" / APP_NAME
    else:
        path = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "lora-studio"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    path = data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_models_root() -> Path:
    """NMKD-style ``models/`` folder: beside the app in portable mode, else in the data folder."""
    root = portable_root()
    return (root / "models") if root is not None else (data_dir() / "models")


def set_offline_environment() -> None:
    """Make any accidental model-hub call fail fast instead of hanging or downloading.

    Must run before huggingface_hub / transformers / diffusers are imported.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("DIFFUSERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # onnxruntime (captioning) would otherwise write a device id under the user's home folder,
    # which portable mode must not touch.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    # bitsandbytes' CPU backend probes an optional hub-hosted kernel at import and warns when it is
    # absent (always, offline). Nothing is lost: it falls back to its built-in kernels.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    cache = data_dir() / "cache"
    os.environ.setdefault("HF_HOME", str(cache / "huggingface"))
    os.environ.setdefault("TORCH_HOME", str(cache / "torch"))
