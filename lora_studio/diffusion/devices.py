"""Which device and number format to compute in, and a device report for diagnostics."""

from __future__ import annotations

import platform
from typing import Any

import torch

_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(preference: str = "auto") -> str:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU. An explicit choice that is unavailable falls back to CPU."""
    pref = (preference or "auto").lower()
    if pref in ("auto", "gpu"):
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if pref.startswith("cuda"):
        return pref if torch.cuda.is_available() else "cpu"
    if pref == "mps":
        return "mps" if _mps_available() else "cpu"
    return "cpu"


def unavailable_device(preference: str) -> str | None:
    """Why an explicitly chosen device can't be used (None when it can, or for "auto"/"cpu").

    Training must not fall back to the CPU without a word when the settings ask for a GPU.
    """
    pref = (preference or "auto").lower()
    if pref in ("auto", "gpu", "cpu"):
        return None
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            why = (
                "this PyTorch has no CUDA support"
                if torch.version.cuda is None
                else "no NVIDIA GPU was found"
            )
            return f"The settings ask for device '{preference}', but {why}."
        _, _, index = pref.partition(":")
        if index and int(index) >= torch.cuda.device_count():
            return f"The settings ask for device '{preference}', but there are only {torch.cuda.device_count()} GPU(s)."
        return None
    if pref == "mps":
        return (
            None
            if _mps_available()
            else "The settings ask for device 'mps', but Apple's GPU is not available."
        )
    return f"'{preference}' is not a device LoRA Studio knows."


def bf16_supported(device: str) -> bool:
    if device.startswith("cuda") and torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return False


def pick_dtype(device: str, preference: str | torch.dtype | None = "auto") -> torch.dtype:
    """The compute dtype. ``"auto"``: CUDA gets bf16 where supported, else fp16; MPS fp16; CPU fp32.

    Half precision is never used on the CPU: it is slow there and some kernels are missing.
    """
    if isinstance(preference, torch.dtype):
        wanted = preference
    else:
        pref = (preference or "auto").lower()
        if pref == "auto":
            if device.startswith("cuda"):
                return torch.bfloat16 if bf16_supported(device) else torch.float16
            return torch.float16 if device == "mps" else torch.float32
        if pref not in _DTYPES:
            raise ValueError(f"unknown dtype {preference!r}; use auto, fp32, fp16 or bf16")
        wanted = _DTYPES[pref]
    if device == "cpu":
        return torch.float32 if wanted == torch.float16 else wanted
    if wanted == torch.bfloat16 and device.startswith("cuda") and not bf16_supported(device):
        return torch.float16
    return wanted


def device_report() -> dict[str, Any]:
    """Plain facts for "copy diagnostics" and the self-test; never raises."""
    report: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "mps_available": _mps_available(),
        "device": pick_device("auto"),
        "device_name": "CPU",
        "vram_total_mb": None,
        "vram_free_mb": None,
        "bf16_supported": False,
    }
    if report["cuda_available"]:
        try:
            report["device_name"] = torch.cuda.get_device_name(0)
            free, total = torch.cuda.mem_get_info(0)
            report["vram_total_mb"] = round(total / 2**20)
            report["vram_free_mb"] = round(free / 2**20)
            report["bf16_supported"] = bf16_supported("cuda")
            report["gpu_count"] = torch.cuda.device_count()
        except Exception as exc:  # noqa: BLE001 - a diagnostics report must not fail
            report["cuda_error"] = f"{type(exc).__name__}: {exc}"
    elif report["mps_available"]:
        report["device_name"] = "Apple GPU (MPS)"
    return report
