"""Load/save training settings as TOML and import kohya_ss / sd-scripts settings. Qt-free, torch-free.

The Training tab and ``lora-studio train`` read settings files through these functions.

The kohya importer is ``lora_studio.training.kohya_import`` (torch-free, like the config).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from lora_studio.core.errors import LoraStudioError
from lora_studio.core.families import ModelFamily
from lora_studio.training.config import TrainConfig, load_config, resolve_paths, save_config
from lora_studio.training.presets import Purpose, preset

PROJECT_CONFIG = "training.toml"  # the project's training settings, as the Training tab last had them
DEFAULT_PURPOSE = Purpose.CHARACTER  # the preset a project without saved settings starts from
DEFAULT_VRAM_GB = 12  # until the graphics card is known


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


def default_settings(
    purpose: Purpose = DEFAULT_PURPOSE, family: ModelFamily | None = None, vram_gb: int = DEFAULT_VRAM_GB
) -> TrainConfig:
    """The Training tab's settings for a project that has none saved: the preset."""
    return preset(purpose, family or ModelFamily.SD1, vram_gb)


def project_settings(root: str | Path) -> TrainConfig | None:
    """The project's saved training settings; None when it has none. Raises LoraStudioError when unreadable."""
    path = Path(root) / PROJECT_CONFIG
    return load_toml_config(path).config if path.is_file() else None


def project_settings_or_default(root: str | Path | None) -> TrainConfig:
    """What the Training tab shows for the project at ``root`` before it is opened there."""
    try:
        saved = project_settings(root) if root is not None else None
    except (LoraStudioError, OSError):
        saved = None
    return saved if saved is not None else default_settings()


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
    return fn(path)


def _is_ours(path: Path) -> bool:
    """Our TOML has ``schema_version`` or only our section names; anything else is sd-scripts'."""
    from dataclasses import fields

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # our loader says what is wrong with it, in our words
    ours = {f.name for f in fields(TrainConfig)}
    return "schema_version" in data or (bool(data) and set(data) <= ours)


def read_config_file(path: str | Path) -> LoadedConfig:
    """Any training settings file, told apart by its content (what ``lora-studio train CONFIG`` reads):
    a LoRA Studio TOML, a kohya_ss GUI ``.json`` or an sd-scripts ``--config_file`` TOML.

    A TOML with ``schema_version`` or only our section names is ours, and its errors are reported as
    they are; any other TOML is taken for an sd-scripts config. Relative
    paths in a LoRA Studio TOML are resolved against the file's folder.
    """
    path = Path(path)
    if path.suffix.lower() != ".json" and _is_ours(path):
        return load_toml_config(path)  # its errors are the real ones: never re-read it as kohya's
    imported = import_kohya(path)
    return replace(imported, config=resolve_paths(imported.config, path.parent))
