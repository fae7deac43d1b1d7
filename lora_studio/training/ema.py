"""Exponential moving average (EMA) of the trained weights.

The average starts as a copy of the weights after optimizer step ``s0 = max(1, ema.start_step)``
and is updated every ``ema.every_n_steps`` steps after that: ``ema = decay·ema + (1 − decay)·w``.
In closed form, with the weights ``w_0 … w_n`` at the update steps ``s0, s0 + k, …``:
``ema = decay^n · w_0 + Σ_{i=1..n} (1 − decay) · decay^(n−i) · w_i``.

The average is kept next to the parameters (same device, fp32), travels in the training state
(resume is exact), and is written as the main LoRA file or beside it (``<name>-ema.safetensors``)
as ``ema.save`` says. Samples and validation use the live weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lora_studio.training.config import EmaConfig, EmaTarget


def ema_path(path: str | Path) -> Path:
    """``<stem>-ema.safetensors`` beside ``path``."""
    p = Path(path)
    return p.with_name(f"{p.stem}-ema{p.suffix}")


class WeightEma:
    """The EMA of a fixed list of parameters (the optimizer's)."""

    def __init__(self, cfg: EmaConfig, params: list[torch.Tensor]) -> None:
        self.cfg = cfg
        self.params = params
        self.shadow: list[torch.Tensor] | None = None
        self.updates = 0

    @classmethod
    def create(cls, cfg: EmaConfig, params: list[torch.Tensor]) -> WeightEma | None:
        return None if EmaTarget(cfg.save) == EmaTarget.OFF else cls(cfg, params)

    @property
    def first_step(self) -> int:
        return max(1, self.cfg.start_step)

    def due(self, step: int) -> bool:
        """Whether the average takes the weights after optimizer step ``step`` (1-based)."""
        first = self.first_step
        return step >= first and (step - first) % max(1, self.cfg.every_n_steps) == 0

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        if not self.due(step):
            return
        if self.shadow is None:
            self.shadow = [p.detach().float().clone() for p in self.params]
        else:
            d = float(self.cfg.decay)
            for s, p in zip(self.shadow, self.params):
                s.mul_(d).add_(p.detach().float(), alpha=1.0 - d)
        self.updates += 1

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The parameters hold the average inside the block (the live weights before the first
        update), and their own values again after it."""
        if self.shadow is None:
            yield
            return
        live = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.copy_(s.to(p.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for p, v in zip(self.params, live):
                    p.copy_(v)

    def metadata(self) -> dict[str, str]:
        import json

        c = self.cfg
        info = {"decay": c.decay, "start_step": c.start_step, "every_n_steps": c.every_n_steps, "updates": self.updates}
        return {"lora_studio.ema": json.dumps(info)}

    def state(self) -> dict[str, Any]:
        shadow = None if self.shadow is None else [s.detach().cpu().clone() for s in self.shadow]
        return {"shadow": shadow, "updates": self.updates}

    def load(self, state: dict[str, Any] | None) -> None:
        if not state or state.get("shadow") is None:
            self.shadow, self.updates = None, int((state or {}).get("updates", 0))
            return
        shadow = state["shadow"]
        if len(shadow) != len(self.params) or any(s.shape != p.shape for s, p in zip(shadow, self.params)):
            from lora_studio.core.errors import TrainingError

            raise TrainingError(
                "The EMA weights in the state do not fit this run's network.",
                hint="Resume with the settings the run started with.",
            )
        self.shadow = [s.to(p.device, torch.float32).clone() for s, p in zip(shadow, self.params)]
        self.updates = int(state.get("updates", 0))


def write_lora_files(ema: WeightEma | None, path: Path, write: Any) -> None:
    """Write a LoRA file with ``write(path, metadata)``: the live weights, or the EMA in the main
    file, or the live weights plus the EMA beside them, as ``ema.save`` says. A file holding the
    average says so in its metadata (``lora_studio.ema``: decay, start step, interval, updates)."""
    if ema is None:
        write(path, {})
        return
    if EmaTarget(ema.cfg.save) == EmaTarget.MAIN:
        with ema.swapped_in():
            write(path, ema.metadata())
        return
    write(path, {})
    with ema.swapped_in():
        write(ema_path(path), ema.metadata())
