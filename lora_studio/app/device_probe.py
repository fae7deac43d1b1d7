"""Finds out what the app would train on. Imports torch, so it only ever runs in a worker."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from lora_studio.app.state import DeviceInfo
from lora_studio.core.control import RunControl
from lora_studio.core.events import Event, StatusChanged

log = logging.getLogger(__name__)

DEVICES_MODULE = "lora_studio.diffusion.devices"


def probe_device(reporter: Callable[[Event], None], control: RunControl) -> DeviceInfo:
    """Worker function: ask ``lora_studio.diffusion.devices.device_report()``.

    Until that module exists, fall back to asking torch directly, and say so in the details.
    """
    reporter(StatusChanged("Checking the graphics card…"))
    try:
        devices = importlib.import_module(DEVICES_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != DEVICES_MODULE:
            raise
        return _basic_torch_probe()
    control.raise_if_cancelled()
    return describe_report(devices.device_report())


def describe_report(report: Any) -> DeviceInfo:
    """Turn whatever ``device_report()`` returns (text, or an object with a summary) into a DeviceInfo."""
    if isinstance(report, DeviceInfo):
        return report
    if isinstance(report, dict):
        return _describe_dict(report)
    if isinstance(report, str):
        lines = report.strip().splitlines() or ["unknown"]
        return DeviceInfo(lines[0], report.strip())
    summary = getattr(report, "summary", None)
    if callable(summary):
        summary = summary()
    details = getattr(report, "details", None)
    if callable(details):
        details = details()
    text = str(report)
    return DeviceInfo(str(summary or text.splitlines()[0]), str(details or text))


def _describe_dict(report: dict[str, Any]) -> DeviceInfo:
    device = str(report.get("device", "cpu"))
    name = str(report.get("device_name") or device)
    if device == "cpu":
        summary = "Processor only (no NVIDIA graphics card found)"
    else:
        summary = name
        total_mb = report.get("vram_total_mb")
        if isinstance(total_mb, (int, float)) and total_mb > 0:
            summary += f", {total_mb / 1024:.0f} GB"
    details = "\n".join(f"{key}: {value}" for key, value in report.items())
    return DeviceInfo(summary, details)


def _basic_torch_probe() -> DeviceInfo:
    try:
        import torch
    except ImportError:
        return DeviceInfo("PyTorch is not installed", "PyTorch is not installed, so nothing can be trained.")
    lines = [f"torch {torch.__version__}", f"CUDA build: {torch.version.cuda or 'none'}"]
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info(0)
        lines.append(f"GPU 0: {name}, {total / 2**30:.1f} GB ({free / 2**30:.1f} GB free)")
        summary = name
    else:
        summary = "Processor only (no NVIDIA graphics card found)"
    lines.append("(basic check: the full device report is not in this build yet)")
    return DeviceInfo(summary, "\n".join(lines))
