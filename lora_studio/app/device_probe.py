"""Finds out what the app would train on. Imports torch, so it only ever runs in a worker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lora_studio.app.state import DeviceInfo
from lora_studio.core.control import RunControl
from lora_studio.core.events import Event, StatusChanged

log = logging.getLogger(__name__)



def probe_device(reporter: Callable[[Event], None], control: RunControl) -> DeviceInfo:
    """Worker function: ask ``lora_studio.diffusion.devices.device_report()`` (imports torch)."""
    reporter(StatusChanged("Checking the graphics card…"))
    from lora_studio.diffusion.devices import device_report

    control.raise_if_cancelled()
    return describe_report(device_report())


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
