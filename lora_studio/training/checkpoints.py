"""Saving LoRA files and training state; resuming; keeping the last N.

* LoRA files go through ``formats.lora_keys.save_kohya_lora``: kohya keys, the trained alpha,
  ``ss_*`` + ModelSpec metadata and ``sshs_*`` hashes, written atomically. Names carry the epoch
  and step: ``<name>-e0003-s000120.safetensors``; the final file is ``<name>.safetensors``.
* Training state is one file ``state/<name>-state-s000120.pt`` holding the LoRA weights,
  optimizer, scheduler, RNG states (python/numpy/torch/cuda), step, epoch, loss history and the
  config. It is written atomically (temp file + rename), so a crash during a save leaves the
  previous state intact. It contains only tensors and plain data and is read with
  ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import pickle
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lora_studio.core.errors import TrainingError
from lora_studio.core.fileio import atomic_path

STATE_FORMAT = 1


def prune(files: list[Path], keep: int) -> list[Path]:
    """Delete all but the last ``keep`` of ``files`` (0 keeps everything); returns the deleted ones."""
    if keep <= 0 or len(files) <= keep:
        return []
    doomed = files[: len(files) - keep]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


# -- RNG -----------------------------------------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    py = random.getstate()
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # the legacy (MT19937) form: (name, keys, pos, has_gauss, gauss)
    out: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- training state ------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int
    epoch: int
    lora: dict[str, dict[str, torch.Tensor]]  # component -> peft state dict
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    config_toml: str
    losses: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)  # learning rate per step, like losses
    epoch_steps: int = 0  # optimizer steps per epoch (0: a state from before this was kept)
    elapsed_s: float = 0.0
    session_id: str = ""
    started_at: float = 0.0
    reason: str = "periodic"  # periodic, cancel, error, final, manual
    ema: dict[str, Any] | None = None  # training.ema.WeightEma.state(): the average, exactly

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "step": self.step,
            "epoch": self.epoch,
            "lora": self.lora,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "rng": self.rng,
            "config_toml": self.config_toml,
            "losses": list(self.losses),
            "validation": [list(v) for v in self.validation],
            "lrs": list(self.lrs),
            "epoch_steps": self.epoch_steps,
            "elapsed_s": self.elapsed_s,
            "session_id": self.session_id,
            "started_at": self.started_at,
            "reason": self.reason,
            "ema": self.ema,
        }


def save_state(path: Path, state: TrainState) -> Path:
    """Write ``state`` atomically to ``path``."""
    payload = state.to_payload()
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_state(path: str | Path) -> TrainState:
    """Read a training state written by :func:`save_state`."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a state file" if path.is_dir() else "does not exist"
        raise TrainingError(
            f"The training state {path} {what}.", hint="Pick a .pt file from the run's state folder."
        )
    try:
        with warnings.catch_warnings():  # torch warns about old pickle protocols before refusing
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text advises weights_only=False, i.e. running the file's code: never shown.
        raise TrainingError(
            f"{path.name} is not a LoRA Studio training state: it holds Python objects that only an "
            "old-style (pickle) loader would run, which LoRA Studio never does because they can run "
            "hidden code.",
            hint="Resume from a state file this app wrote (in the run's state folder).",
            details=type(exc).__name__,
        ) from None
    except Exception as exc:
        raise TrainingError(
            f"The training state {path.name} cannot be read (it is damaged or not a state file).",
            hint="Resume from an earlier state file of the same run.",
            details=f"{type(exc).__name__}: {exc}",
        ) from None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise TrainingError(f"{path.name} is not a LoRA Studio training state.")
    return TrainState(
        step=int(data["step"]),
        epoch=int(data["epoch"]),
        lora=data["lora"],
        optimizer=data["optimizer"],
        scheduler=data["scheduler"],
        rng=data["rng"],
        config_toml=data["config_toml"],
        losses=[float(x) for x in data.get("losses", [])],
        validation=[(int(s), float(v)) for s, v in data.get("validation", [])],
        lrs=[float(x) for x in data.get("lrs", [])],
        epoch_steps=int(data.get("epoch_steps", 0)),
        elapsed_s=float(data.get("elapsed_s", 0.0)),
        session_id=str(data.get("session_id", "")),
        started_at=float(data.get("started_at", 0.0)),
        reason=str(data.get("reason", "")),
        ema=data.get("ema"),
    )


# -- LoRA files ------------------------------------------------------------------------------------


def save_lora_file(
    path: Path,
    component_state_dicts: dict[str, dict[str, torch.Tensor]],
    *,
    family: Any,
    alpha_for: Any,
    dtype: torch.dtype,
    metadata: dict[str, str],
    unet_config: Any = None,
) -> Path:
    """Write one kohya LoRA file (atomic, via the formats package); ``unet_config`` numbers SDXL's
    original-layout module names."""
    from lora_studio.formats.lora_keys import save_kohya_lora

    return Path(
        save_kohya_lora(
            path,
            component_state_dicts,
            family=family,
            alpha_for=alpha_for,
            dtype=dtype,
            metadata=metadata,
            unet_config=unet_config,
        )
    )
