"""The "Copy diagnostics" text: versions, paths, settings, device and the last log lines."""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path

import PySide6
from PySide6.QtCore import qVersion

from lora_studio import __version__
from lora_studio.app.device_probe import probe_device
from lora_studio.app.state import AppContext, DeviceInfo
from lora_studio.core import log as core_log
from lora_studio.core import paths
from lora_studio.core.control import RunControl
from lora_studio.core.events import Event
from lora_studio.core.serialization import to_dict

LOG_LINES = 50


def version_rows() -> list[tuple[str, str]]:
    return [
        ("LoRA Studio", __version__),
        ("Python", f"{platform.python_version()} ({platform.architecture()[0]})"),
        ("Operating system", f"{platform.system()} {platform.release()}"),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
    ]


def folder_rows(context: AppContext) -> list[tuple[str, str]]:
    settings = context.settings
    log_file = core_log.log_file()
    return [
        ("Data folder", str(paths.data_dir())),
        ("Log file", str(log_file) if log_file else "(not logging to a file)"),
        ("Base models", _join(settings.checkpoint_folders())),
        ("LoRA files", _join(settings.lora_folders())),
        ("Captioning models", _join(settings.captioner_folders())),
        ("Output folder", str(settings.output_folder())),
    ]


def collect_diagnostics(
    context: AppContext, device: DeviceInfo | None, torch_version: str, log_lines: list[str]
) -> str:
    lines = ["LoRA Studio diagnostics", ""]
    lines += [f"{name}: {value}" for name, value in version_rows()]
    lines.append(f"OS build: {platform.platform()}")
    lines.append(f"torch: {torch_version}")
    lines.append(f"Frozen build: {paths.is_frozen()}; portable: {paths.portable_root() is not None}")
    lines += ["", "Device:", (device.details or device.summary) if device else "(not checked)"]
    lines += ["", "Folders:"] + [f"  {name}: {value}" for name, value in folder_rows(context)]
    lines += ["", "Settings:"] + [f"  {key} = {value!r}" for key, value in to_dict(context.settings).items()]
    lines += ["", f"Project: {context.project_path or '(none open)'}"]
    tail = log_lines[-LOG_LINES:]
    lines += ["", f"Last {len(tail)} log lines:", *tail]
    return "\n".join(lines) + "\n"


def torch_version() -> str:
    """Call from a worker: importing torch takes seconds."""
    try:
        import torch
    except ImportError:
        return "not installed"
    return str(torch.__version__)


def probe_for_diagnostics(
    reporter: Callable[[Event], None], control: RunControl, known: DeviceInfo | None = None
) -> tuple[str, DeviceInfo]:
    """Worker function: the torch version and the device (reusing ``known`` if already checked)."""
    version = torch_version()
    control.raise_if_cancelled()
    return version, known or probe_device(reporter, control)


def _join(folders: list[Path]) -> str:
    return "; ".join(str(f) for f in folders)
