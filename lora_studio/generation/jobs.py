"""The work the Generation tab hands to workers (Qt-free). Each job function runs on a worker thread.

The panel owns one :class:`EngineHolder`; the engine inside it (and torch with it) is imported and
created lazily on the first job, and is only ever used by one worker at a time (the job runner
allows one graphics-card job at a time), so the cached pipeline survives from one job to the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lora_studio.core.control import RunControl
from lora_studio.core.events import Reporter, StatusChanged
from lora_studio.core.families import ModelFamily
from lora_studio.generation.request import GenerationRequest, GenerationResult, LoraSpec

if TYPE_CHECKING:
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.grid import GridAxis, GridResult
    from lora_studio.generation.model_library import Library


@dataclass(frozen=True, slots=True)
class ModelReady:
    """Facts about the model now in memory (plain data for the GUI thread)."""

    path: Path
    family: ModelFamily
    native_size: int
    load_seconds: float  # 0 when it was already loaded
    distilled_guidance: bool = False  # FLUX.1-dev: takes "Distilled CFG Scale" (schnell, SD: no)


@dataclass(frozen=True, slots=True)
class GenerateOutcome:
    result: GenerationResult
    model: ModelReady
    seconds: float


class EngineHolder:
    """Owns the app's one GenerationEngine (created on first use, on a worker thread)."""

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self._engine: GenerationEngine | None = None
        self._lock = threading.Lock()
        self.load_seconds: dict[str, float] = {}  # model path -> how long it took to load last time

    @property
    def created(self) -> bool:
        return self._engine is not None

    def engine(self, lora_dirs: Sequence[Path]) -> GenerationEngine:
        with self._lock:
            if self._engine is None:
                from lora_studio.generation.engine import GenerationEngine

                device = None if self.device in ("", "auto") else self.device
                self._engine = GenerationEngine(lora_dirs=list(lora_dirs), device=device)
            else:
                self._engine.lora_dirs = [Path(d) for d in lora_dirs]
            return self._engine

    def is_loaded(self, model: str | Path, base_weights: str = "full") -> bool:
        engine = self._engine
        if engine is None:
            return False
        return bool(engine.is_loaded(model, base_weights))

    def load(
        self, model: str | Path, lora_dirs: Sequence[Path], reporter: Reporter, base_weights: str = "full"
    ) -> ModelReady:
        engine = self.engine(lora_dirs)
        was_loaded = self.is_loaded(model, base_weights)
        started = time.perf_counter()
        entry = engine.model(model, reporter, base_weights)
        seconds = 0.0 if was_loaded else time.perf_counter() - started
        if not was_loaded:
            self.load_seconds[str(Path(model).resolve())] = seconds
        return ModelReady(
            Path(model),
            ModelFamily(entry.family),
            int(entry.native_size),
            seconds,
            entry.has_distilled_guidance,
        )

    def unload(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.unload()


def load_model_job(
    holder: EngineHolder, model: str, lora_dirs: Sequence[Path], base_weights: str = "full"
):  # -> JobFunction
    def run(reporter: Reporter, control: RunControl) -> ModelReady:
        control.checkpoint()
        reporter(StatusChanged(f"Loading {Path(model).name}…"))
        return holder.load(model, lora_dirs, reporter, base_weights)

    return run


def generate_job(holder: EngineHolder, request: GenerationRequest, lora_dirs: Sequence[Path]):
    def run(reporter: Reporter, control: RunControl) -> GenerateOutcome:
        started = time.perf_counter()
        loaded = holder.load(request.model, lora_dirs, reporter, request.base_weights)
        control.checkpoint()
        result = holder.engine(lora_dirs).generate(request, reporter, control)
        return GenerateOutcome(result, loaded, time.perf_counter() - started)

    return run


def grid_job(
    holder: EngineHolder,
    request: GenerationRequest,
    axes: Sequence[GridAxis],
    lora_dirs: Sequence[Path],
    out_dir: Path,
):
    def run(reporter: Reporter, control: RunControl) -> GridResult:
        from lora_studio.generation.grid import run_grid

        holder.load(request.model, lora_dirs, reporter, request.base_weights)
        x, y = axes[0], (axes[1] if len(axes) > 1 else None)
        return run_grid(
            holder.engine(lora_dirs), request, x, y, out_dir=out_dir, reporter=reporter, control=control
        )

    return run


def bake_job(model: str, loras: Sequence[LoraSpec], out_path: Path, half: bool):
    def run(reporter: Reporter, control: RunControl) -> Path:
        import torch

        from lora_studio.generation.merge import bake_loras

        control.checkpoint()
        return bake_loras(
            model, loras, out_path, dtype=torch.float16 if half else torch.float32, reporter=reporter
        )

    return run


def scan_job(
    model_folders: Sequence[Path],
    lora_folders: Sequence[Path],
    project_root: Path | None,
    project_models: Sequence[Path] = (),
):
    def run(reporter: Reporter, control: RunControl) -> Library:
        from lora_studio.generation.model_library import scan_library

        del control
        reporter(StatusChanged("Looking for models and LoRAs…"))
        return scan_library(model_folders, lora_folders, project_root, project_models)

    return run
