""""Compare epochs": every saved LoRA of a run × a few weights × the sample prompts, as grids. Qt-free.

Uses the generation engine's grid (``lora_studio.generation.grid.run_grid``): columns are the saved
files (epochs), rows the LoRA weights, and one grid per sample prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lora_studio.core.control import RunControl
from lora_studio.core.errors import GenerationError
from lora_studio.core.events import Reporter, StatusChanged
from lora_studio.training.config import TrainConfig

if TYPE_CHECKING:
    from lora_studio.generation.grid import GridResult

DEFAULT_WEIGHTS = (0.6, 0.8, 1.0)


@dataclass(frozen=True, slots=True)
class CompareRequest:
    config: TrainConfig  # the run's settings: base model, resolution, sample prompts, seed
    lora_files: tuple[str, ...]
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    steps: int = 20

    @property
    def out_dir(self) -> Path:
        return Path(self.config.run.output_dir) / "compare"


def compare_request(config: TrainConfig, lora_files: list[str]) -> CompareRequest:
    files = sorted(dict.fromkeys(f for f in lora_files if Path(f).is_file()), key=_order)
    if not files:
        raise GenerationError("This run has no saved LoRA files to compare yet.", hint="Train at least one epoch first.")
    return CompareRequest(config, tuple(files))


def _order(path: str) -> tuple[int, str]:
    # Intermediate files (name-e0003-s000120) by step, the final file last.
    stem = Path(path).stem
    part = stem.rsplit("-s", 1)
    return (int(part[1]) if len(part) == 2 and part[1].isdigit() else 10**12, stem)


def run_compare(request: CompareRequest, reporter: Reporter, control: RunControl) -> GridResult:
    """Worker function: returns the engine's ``GridResult`` (``grid_paths``: one PNG per prompt)."""
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.grid import GridAxis, run_grid
    from lora_studio.generation.request import GenerationRequest

    cfg = request.config
    prompts = [p.prompt for p in cfg.sample.prompts] or [cfg.dataset.trigger_word or "a picture"]
    first = cfg.sample.prompts[0] if cfg.sample.prompts else None
    base = GenerationRequest(
        model=cfg.model.base_model,
        prompt=prompts[0],
        negative=first.negative if first else "",
        steps=first.steps if first else request.steps,
        cfg=first.cfg if first else 7.0,
        seed=cfg.run.seed,
        clip_skip=cfg.model.clip_skip,
        width=cfg.dataset.resolution,
        height=cfg.dataset.resolution,
        output_dir=str(request.out_dir),
    )
    reporter(StatusChanged(f"Comparing {len(request.lora_files)} saved files × {len(request.weights)} weights × {len(prompts)} prompts…"))
    engine = GenerationEngine(device=None if cfg.run.device == "auto" else cfg.run.device)
    try:
        return run_grid(
            engine,
            base,
            GridAxis("lora", request.lora_files),
            GridAxis("weight", request.weights),
            GridAxis("prompt", tuple(prompts)) if len(prompts) > 1 else None,
            out_dir=request.out_dir,
            reporter=reporter,
            control=control,
        )
    finally:
        engine.unload()
