"""Device and dtype choice (CPU here; CUDA rules checked through the choice function)."""

from __future__ import annotations

import torch

from lora_studio.diffusion import devices


def test_cpu_choices():
    assert devices.pick_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert devices.pick_device("auto") in ("cpu", "mps")
        assert devices.pick_device("cuda") == "cpu"
    assert devices.pick_dtype("cpu") == torch.float32
    assert devices.pick_dtype("cpu", "fp16") == torch.float32  # half precision is never used on a CPU
    assert devices.pick_dtype("cpu", "bf16") == torch.bfloat16
    assert devices.pick_dtype("cpu", torch.float32) == torch.float32


def test_cuda_auto_dtype(monkeypatch):
    monkeypatch.setattr(devices, "bf16_supported", lambda device: True)
    assert devices.pick_dtype("cuda", "auto") == torch.bfloat16
    monkeypatch.setattr(devices, "bf16_supported", lambda device: False)
    assert devices.pick_dtype("cuda", "auto") == torch.float16
    assert devices.pick_dtype("cuda", "bf16") == torch.float16


def test_device_report_is_plain_data():
    report = devices.device_report()
    for key in (
        "torch",
        "cuda_available",
        "device_name",
        "vram_total_mb",
        "vram_free_mb",
        "bf16_supported",
        "mps_available",
    ):
        assert key in report
    assert report["torch"] == torch.__version__
