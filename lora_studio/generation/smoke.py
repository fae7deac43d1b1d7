"""Self-test hook: one tiny generation with the demo model through the real engine."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lora_studio.core.control import RunControl
from lora_studio.core.events import Reporter


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
