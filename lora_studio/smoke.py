"""Self-test hooks: one tiny training step and one tiny generation on the demo project, through the
real trainer and engine (the app's "Run self-test" calls these on a worker).

They sit above the engine packages (next to :mod:`lora_studio.demo`, whose project they use), so the
training and generation packages never depend on the demo.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lora_studio.core.control import RunControl
from lora_studio.core.events import Reporter


def run_smoke_training_step(reporter: Reporter, control: RunControl) -> str:
    """Train one step and write a LoRA file into a temporary folder; raise on any failure."""
    from lora_studio.demo import TRAIN_CONFIG, ensure_demo_project
    from lora_studio.formats.lora_info import inspect_lora
    from lora_studio.training.config import load_config, resolve_paths, update
    from lora_studio.training.trainer import run_training

    root = ensure_demo_project(reporter)
    config, _unknown = load_config(root / TRAIN_CONFIG)
    with tempfile.TemporaryDirectory(prefix="lora-studio-selftest-") as out:
        config = update(
            resolve_paths(config, root),
            **{"run.output_dir": out, "run.max_steps": 1, "run.epochs": 1, "sample.prompts": ()},
        )
        result = run_training(config, reporter, control)
        if result.final_lora is None:
            raise RuntimeError("training finished without writing a LoRA file")
        info = inspect_lora(result.final_lora)
        return f"1 step, loss {result.losses[-1]:.4f}, wrote a {info.family.label if info.family else '?'} LoRA (rank {info.rank}) {Path(result.final_lora).name}"


def run_smoke_generation(reporter: Reporter, control: RunControl) -> str:
    """Generate one 64×64 picture in 2 steps; raise on any failure. Returns a one-line summary."""
    from lora_studio.demo import MODEL_FILE, ensure_demo_project
    from lora_studio.formats.infotext import read_png_parameters
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest

    model = ensure_demo_project(reporter) / MODEL_FILE
    with tempfile.TemporaryDirectory(prefix="lora-studio-selftest-") as out:
        request = GenerationRequest(
            model=str(model),
            prompt="zorb, orange round mascot",
            steps=2,
            seed=1,
            width=64,
            height=64,
            output_dir=out,
        )
        result = GenerationEngine().generate(request, reporter, control)
        path = Path(result.paths[0])
        params = read_png_parameters(path) or ""
        if "Seed: 1" not in params:
            raise RuntimeError(f"the picture {path.name} has no generation settings in it")
        return f"1 picture {request.width}×{request.height}, 2 steps, settings stored in the PNG"
