"""A measured fit: run a few real steps and pick the cheapest memory settings that fit the card.

``choose_fit`` walks a ladder of settings from fastest to most frugal (as set -> gradient
checkpointing -> 8-bit AdamW -> fp8 base weights -> fp8 + block swapping -> 4-bit NF4 base
weights), measures each with a short probe (peak allocated memory and seconds per step at the run's
resolution and batch) and stops at the first one whose peak, plus a safety margin, fits the card.
The device is an object with ``total_bytes`` / ``reset_peak`` / ``peak_bytes`` (``CudaMemory`` for a
real card), so the logic is tested with a fake one.

On Windows the NVIDIA driver lets a program use more than the card holds by spilling into shared
system memory, which makes training many times slower instead of failing; ``spill_message`` spots
that (the allocator holds more than the card has) so the trainer can stop with a clear message.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lora_studio.core.errors import TrainingError
from lora_studio.core.events import StepFinished
from lora_studio.diffusion.base_weights import BaseWeights
from lora_studio.training.config import OptimizerKind, TrainConfig, update

log = logging.getLogger(__name__)

GB = 1024**3
DEFAULT_MARGIN = 0.10  # keep 10 % of the card free (fragmentation, other programs, the display)


class DeviceMemory(Protocol):
    """What the probe needs to know about a device's memory."""

    def total_bytes(self) -> int: ...
    def reset_peak(self) -> None: ...
    def peak_bytes(self) -> int: ...
    def reserved_bytes(self) -> int: ...


class CudaMemory:
    """``DeviceMemory`` of one CUDA card, read through torch's allocator."""

    def __init__(self, index: int = 0) -> None:
        self.index = index

    def total_bytes(self) -> int:
        import torch

        return int(torch.cuda.get_device_properties(self.index).total_memory)

    def reset_peak(self) -> None:
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.index)

    def peak_bytes(self) -> int:
        import torch

        return int(torch.cuda.max_memory_allocated(self.index))

    def reserved_bytes(self) -> int:
        import torch

        return int(torch.cuda.memory_reserved(self.index))


@dataclass(frozen=True)
class Measurement:
    peak_bytes: int
    seconds_per_step: float
    out_of_memory: bool = False
    spilled: bool = False

    def fits(self, total_bytes: int, margin: float = DEFAULT_MARGIN) -> bool:
        return not (self.out_of_memory or self.spilled) and self.peak_bytes * (1 + margin) <= total_bytes


@dataclass(frozen=True)
class FitChoice:
    """The settings chosen (``None`` measurement: nothing on the ladder fits)."""

    config: TrainConfig
    step_name: str
    measurement: Measurement | None
    total_bytes: int
    tried: tuple[tuple[str, Measurement], ...] = field(default=())

    @property
    def fits(self) -> bool:
        return self.measurement is not None

    def summary(self) -> str:
        total = self.total_bytes / GB
        if self.measurement is None:
            return f"Does not fit in {total:.0f} GB even with every memory-saving setting."
        m = self.measurement
        return f"fits: {m.peak_bytes / GB:.1f} of {total:.0f} GB, {m.seconds_per_step:.1f} s/step"


def ladder(config: TrainConfig) -> list[tuple[str, dict[str, Any]]]:
    """Settings to try, fastest first; each step keeps the savings of the ones before it."""
    steps: list[tuple[str, dict[str, Any]]] = [("as set", {})]
    acc: dict[str, Any] = {}

    def add(name: str, **changes: Any) -> None:
        acc.update({k.replace("__", "."): v for k, v in changes.items()})
        steps.append((name, dict(acc)))

    if not config.run.gradient_checkpointing:
        add("gradient checkpointing", run__gradient_checkpointing=True)
    if config.optimizer.optimizer == OptimizerKind.ADAMW:
        add("8-bit AdamW", optimizer__optimizer=OptimizerKind.ADAMW8BIT)
    if config.memory.unet_weights == BaseWeights.FULL:
        add(
            "fp8 base weights",
            memory__unet_weights=BaseWeights.FP8,
            memory__text_encoder_weights=BaseWeights.FP8,
        )
    for n in (4, 8):
        if config.memory.blocks_to_swap < n:
            add(f"fp8 + {n} blocks in system memory", memory__blocks_to_swap=n)
    acc.pop("memory.blocks_to_swap", None)
    add(
        "4-bit NF4 base weights",
        memory__unet_weights=BaseWeights.NF4,
        memory__text_encoder_weights=BaseWeights.NF4,
    )
    return steps


Measure = Callable[[TrainConfig], Measurement]


def choose_fit(
    config: TrainConfig,
    device: DeviceMemory,
    measure: Measure,
    *,
    margin: float = DEFAULT_MARGIN,
    report: Callable[[str], None] = lambda _text: None,
) -> FitChoice:
    """The first (cheapest) rung of :func:`ladder` whose measured peak fits ``device`` with ``margin``."""
    total = device.total_bytes()
    tried: list[tuple[str, Measurement]] = []
    for name, changes in ladder(config):
        candidate = update(config, **changes) if changes else config
        report(f"Measuring memory: {name}")
        device.reset_peak()
        m = measure(candidate)
        tried.append((name, m))
        log.info("fit probe %s: peak %.2f GB, %.2f s/step", name, m.peak_bytes / GB, m.seconds_per_step)
        if m.fits(total, margin):
            return FitChoice(candidate, name, m, total, tuple(tried))
    return FitChoice(config, "", None, total, tuple(tried))


def probe_config(config: TrainConfig, steps: int, out_dir: str) -> TrainConfig:
    """``config`` cut down to a probe: ``steps`` optimizer steps, nothing saved or sampled."""
    from lora_studio.training.config import SampleConfig, ValidationConfig

    return update(
        config,
        **{
            "run.max_steps": steps,
            "run.save_every_n_epochs": 0,
            "run.save_every_n_steps": 0,
            "run.state_every_minutes": 0.0,
            "run.output_dir": out_dir,
            "log.tensorboard": False,  # (the EMA stays: its copy of the weights is memory the run uses)
            "sample": SampleConfig(),
            "validation": ValidationConfig(),
        },
    )


def run_probe(
    config: TrainConfig,
    device: DeviceMemory,
    *,
    dataset: Any = None,
    steps: int = 4,
    train: Callable[..., Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    platform: str = sys.platform,
) -> Measurement:
    """Train ``steps`` real steps of ``config`` and measure the device's peak and the speed (the
    first step, which warms up kernels and caches, is left out of the speed)."""
    if train is None:
        from lora_studio.training.trainer import run_training

        train = run_training
    times: list[float] = []

    def on_event(event: Any) -> None:
        if isinstance(event, StepFinished):
            times.append(clock())

    with tempfile.TemporaryDirectory(prefix="lora-studio-probe-") as tmp:
        try:
            train(probe_config(config, steps, tmp), on_event, dataset=dataset)
        except TrainingError as exc:
            if _is_oom(exc):
                return Measurement(device.peak_bytes(), 0.0, out_of_memory=True)
            raise
    per_step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    spilled = spill_message(device, platform) is not None
    return Measurement(device.peak_bytes(), per_step, spilled=spilled)


def measure_fit(
    config: TrainConfig,
    *,
    dataset: Any = None,
    device: DeviceMemory | None = None,
    steps: int = 4,
    margin: float = DEFAULT_MARGIN,
    report: Callable[[str], None] = lambda _text: None,
) -> FitChoice:
    """Probe ``config`` on the CUDA card (or ``device``) and return the cheapest settings that fit."""
    if device is None:
        import torch

        if not torch.cuda.is_available() or config.run.device in ("cpu", "mps"):
            raise TrainingError(
                "Measuring the memory fit needs an NVIDIA graphics card (CUDA); none was found, "
                "or the run is set to another device.",
                hint="Train without measuring: the memory shown is then the formula's estimate.",
            )
        index = torch.device(config.run.device).index if config.run.device.startswith("cuda") else None
        device = CudaMemory(index or 0)
    dev = device
    return choose_fit(
        config,
        dev,
        lambda candidate: run_probe(candidate, dev, dataset=dataset, steps=steps),
        margin=margin,
        report=report,
    )


def _is_oom(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "OutOfMemoryError" or "out of memory" in str(seen).lower():
            return True
        seen = seen.__cause__
    return False


def spill_message(device: DeviceMemory, platform: str = sys.platform) -> str | None:
    """On Windows: a plain-words message when the run holds more than the card has (the driver is
    then spilling into shared system memory, which is very slow); else None."""
    if not platform.startswith("win"):
        return None
    total = device.total_bytes()
    held = max(device.reserved_bytes(), device.peak_bytes())
    if held <= total:
        return None
    return (
        f"Training needs {held / GB:.1f} GB but the graphics card has {total / GB:.1f} GB; Windows is "
        "lending it shared system memory, which makes training many times slower."
    )


def calibration(measured_bytes: int, estimated_gb: float) -> float:
    """Factor that makes the formula estimate match a probe's measurement (kept within 0.5–2)."""
    if estimated_gb <= 0:
        return 1.0
    return min(2.0, max(0.5, measured_bytes / GB / estimated_gb))
