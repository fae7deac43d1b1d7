"""Self-test hook: one tiny training step on the demo project through the real trainer."""

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
