"""Application settings (model folders, output folder, theme, recent projects), persisted as TOML."""

from __future__ import annotations

import dataclasses
import enum
import logging
from dataclasses import dataclass
from pathlib import Path

from lora_studio.core import paths
from lora_studio.core.errors import ConfigError
from lora_studio.core.serialization import load_toml, save_toml

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_RECENT = 10


class Theme(enum.StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True, kw_only=True)
class AppSettings:
    schema_version: int = SCHEMA_VERSION
    checkpoint_dirs: tuple[str, ...] = ()
    lora_dirs: tuple[str, ...] = ()
    captioner_dirs: tuple[str, ...] = ()
    output_dir: str = ""
    theme: Theme = Theme.SYSTEM
    recent_projects: tuple[str, ...] = ()
    last_project: str = ""
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1" ...
    # Dataset panel: copy added pictures into the project (True) or use them where they are.
    copy_images_on_import: bool = True

    # Resolved folders (defaults follow NMKD's models/ layout) ------------------------------------
    def checkpoint_folders(self) -> list[Path]:
        return [Path(p) for p in self.checkpoint_dirs] or [paths.default_models_root() / "checkpoints"]

    def lora_folders(self) -> list[Path]:
        return [Path(p) for p in self.lora_dirs] or [paths.default_models_root() / "loras"]

    def captioner_folders(self) -> list[Path]:
        return [Path(p) for p in self.captioner_dirs] or [paths.default_models_root() / "captioners"]

    def output_folder(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        root = paths.portable_root()
        return (root / "outputs") if root is not None else (paths.data_dir() / "outputs")

    def with_recent(self, project: str | Path) -> AppSettings:
        p = str(Path(project))
        recent = (p, *[r for r in self.recent_projects if r != p])[:MAX_RECENT]
        return dataclasses.replace(self, recent_projects=recent, last_project=p)


def settings_path() -> Path:
    return paths.data_dir() / "settings.toml"


def load_settings(path: Path | None = None) -> AppSettings:
    """Never fails: a missing file gives defaults; a broken one is kept aside and defaults are used."""
    path = path or settings_path()
    if not path.exists():
        return AppSettings()
    try:
        settings, unknown = load_toml(AppSettings, path, current_version=SCHEMA_VERSION)
    except ConfigError as exc:
        backup = path.with_suffix(".broken.toml")
        path.replace(backup)
        log.warning("Settings could not be read (%s); kept as %s, using defaults.", exc, backup)
        return AppSettings()
    if unknown:
        log.warning("Ignored unknown settings: %s", ", ".join(unknown))
    return settings


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    save_toml(settings, path or settings_path())


