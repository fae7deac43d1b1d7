"""Load/save training settings as TOML and import kohya_ss / sd-scripts settings. Qt-free.

The kohya importer is ``lora_studio.training.kohya_import`` (torch-free, like the config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lora_studio.training.config import TrainConfig, load_config, resolve_paths, save_config


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
    from lora_studio.training.kohya_import import import_kohya_gui_json, import_sd_scripts_toml

    path = Path(path)
    # kohya_ss GUI presets are JSON; sd-scripts configs are TOML.
    fn = import_kohya_gui_json if path.suffix.lower() == ".json" else import_sd_scripts_toml
    result: Any = fn(path)
    notes = tuple(str(n) for n in getattr(result, "notes", ()))
    return LoadedConfig(result.config, tuple(str(u) for u in result.unsupported), str(path), notes)
