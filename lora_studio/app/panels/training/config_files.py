"""Load/save training settings as TOML and import kohya_ss / sd-scripts settings. Qt-free.

The kohya importer lives in ``lora_studio.formats.kohya_config``; it is looked up when used, so
the panel works (and says so in plain words) in a build where it is missing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lora_studio.core.errors import ConfigError
from lora_studio.training.config import TrainConfig, load_config, resolve_paths, save_config

KOHYA_MODULE = "lora_studio.formats.kohya_config"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: TrainConfig
    not_understood: tuple[str, ...] = ()
    source: str = ""
    notes: tuple[str, ...] = ()


def load_toml_config(path: str | Path) -> LoadedConfig:
    """A LoRA Studio TOML; relative paths in it are taken relative to the file's folder."""
    path = Path(path)
    config, unknown = load_config(path)
    return LoadedConfig(resolve_paths(config, path.parent), tuple(unknown), str(path))


def save_toml_config(config: TrainConfig, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".toml":
        path = path.with_suffix(".toml")
    save_config(config, path)
    return path


def import_kohya(path: str | Path) -> LoadedConfig:
    """A kohya_ss GUI JSON preset or an sd-scripts TOML, with the keys that were not understood."""
    try:
        module = importlib.import_module(KOHYA_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != KOHYA_MODULE:
            raise
        raise ConfigError(
            "Importing kohya settings is not available in this build yet.",
            hint="Copy the values by hand for now, or load a LoRA Studio .toml file.",
        ) from None
    path = Path(path)
    # kohya_ss GUI presets are JSON; sd-scripts configs are TOML.
    fn = module.import_kohya_gui_json if path.suffix.lower() == ".json" else module.import_sd_scripts_toml
    result: Any = fn(path)
    notes = tuple(str(n) for n in getattr(result, "notes", ()))
    return LoadedConfig(result.config, tuple(str(u) for u in result.unsupported), str(path), notes)
