"""What a run leaves behind: where its files go, how they are named, and its result. Torch-free.

``<output>/<name>.safetensors`` is the final LoRA, ``<name>-e0003-s000120.safetensors`` an
intermediate one, ``<output>/state/<name>-state-s000120.pt`` a training state to resume from.
The app lists these without importing torch; :mod:`lora_studio.training.checkpoints` writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_DIR = "state"
SAMPLES_DIR = "samples"
_STEP_RE = re.compile(r"-s(\d+)\.(safetensors|pt)$")
_EPOCH_RE = re.compile(r"-e(\d+)-s\d+\.safetensors$")


def lora_filename(output_name: str, *, epoch: int | None = None, step: int | None = None) -> str:
    """``name.safetensors`` (final) or ``name-e0003-s000120.safetensors`` (intermediate)."""
    if epoch is None and step is None:
        return f"{output_name}.safetensors"
    return f"{output_name}-e{epoch or 0:04d}-s{step or 0:06d}.safetensors"


def state_filename(output_name: str, step: int) -> str:
    return f"{output_name}-state-s{step:06d}.pt"


def step_of(path: Path) -> int:
    m = _STEP_RE.search(path.name)
    return int(m.group(1)) if m else -1


def epoch_of(path: Path) -> int:
    """The epoch in ``name-e0003-s000120.safetensors`` (0 when the name has none)."""
    m = _EPOCH_RE.search(path.name)
    return int(m.group(1)) if m else 0


def intermediate_loras(output_dir: Path, output_name: str) -> list[Path]:
    """Intermediate LoRA files of this output name, oldest step first."""
    pat = re.compile(re.escape(output_name) + r"-e\d+-s\d+\.safetensors$")
    return sorted(
        (p for p in output_dir.glob(f"{output_name}-e*.safetensors") if pat.match(p.name)), key=step_of
    )


def sample_filename(output_name: str, *, step: int, epoch: int, prompt_index: int) -> str:
    """``name-s000120-e0003-00.png``: a sample picture of prompt 0 at step 120 (epoch 3)."""
    return f"{output_name}-s{step:06d}-e{epoch:04d}-{prompt_index:02d}.png"


@dataclass(frozen=True)
class SampleFile:
    path: Path
    step: int
    epoch: int
    prompt_index: int


def sample_files(output_dir: str | Path, output_name: str) -> list[SampleFile]:
    """The sample pictures of this output name in ``<output>/samples``, by step, then prompt."""
    folder = Path(output_dir) / SAMPLES_DIR
    pat = re.compile(re.escape(output_name) + r"-s(\d+)-e(\d+)-(\d+)\.png$")
    found = []
    for p in folder.glob(f"{output_name}-s*.png"):
        m = pat.match(p.name)
        if m:
            found.append(SampleFile(p, int(m.group(1)), int(m.group(2)), int(m.group(3))))
    return sorted(found, key=lambda f: (f.step, f.prompt_index))


def state_files(output_dir: Path, output_name: str) -> list[Path]:
    """Training states of this output name, oldest step first."""
    folder = output_dir / STATE_DIR
    pat = re.compile(re.escape(output_name) + r"-state-s\d+\.pt$")
    return sorted((p for p in folder.glob(f"{output_name}-state-s*.pt") if pat.match(p.name)), key=step_of)


def free_output_name(output_dir: str | Path, output_name: str) -> str:
    """``output_name`` when no LoRA file of that name is in ``output_dir`` yet, else the first free
    numbered one (``zorb-2``, ``zorb-3`` …): a new run never overwrites a finished LoRA."""
    folder = Path(output_dir)

    def taken(name: str) -> bool:
        return (folder / lora_filename(name)).exists() or bool(intermediate_loras(folder, name))

    if not taken(output_name):
        return output_name
    n = 2
    while taken(f"{output_name}-{n}") or state_files(folder, f"{output_name}-{n}"):
        n += 1
    return f"{output_name}-{n}"


def latest_state(output_dir: str | Path, output_name: str) -> Path | None:
    """The newest training state of a run (what "Resume" uses), or None."""
    files = state_files(Path(output_dir), output_name)
    return files[-1] if files else None


@dataclass
class TrainResult:
    final_lora: Path | None
    lora_files: list[Path] = field(default_factory=list)
    state_path: Path | None = None
    steps: int = 0
    total_steps: int = 0
    epochs: int = 0
    losses: list[float] = field(default_factory=list)  # one per optimizer step (this process)
    lrs: list[float] = field(default_factory=list)  # the learning rate of each of those steps
    validation: list[tuple[int, float]] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    pipeline: Any = None  # the pipeline with the trained LoRA, when keep_pipeline=True
