"""Which LoRA files belong to one training run: the final file and the epochs saved on the way.

A run named ``zorb`` leaves ``zorb.safetensors`` plus ``zorb-e0002-s000040.safetensors`` … (our
trainer) or ``zorb-000002.safetensors`` … (kohya sd-scripts). The Generation tab lists such a run
as one entry with its epochs to choose from. Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lora_studio.generation.model_library import LoraItem

# name-e0003-s000120 / name-e000003 (ours) or name-000003 (kohya: six digits)
_EPOCH_SUFFIX = re.compile(r"^(?P<run>.+?)-(?:e(?P<epoch>\d+)(?:-s(?P<step>\d+))?|(?P<kohya>\d{6}))$")


@dataclass(frozen=True, slots=True)
class RunFile:
    run: str  # the run's name: the file stem without the epoch part
    epoch: int | None  # None for the final file
    step: int | None = None

    @property
    def label(self) -> str:
        """What the epoch choice shows: "final", "epoch 4", "epoch 4 · step 120"."""
        if self.epoch is None:
            return "final"
        return f"epoch {self.epoch}" + (f" · step {self.step}" if self.step is not None else "")


def run_file(stem: str) -> RunFile:
    """Split a LoRA file's stem into its run name and epoch (``zorb-000002`` -> zorb, 2)."""
    m = _EPOCH_SUFFIX.match(stem)
    if m is None:
        return RunFile(stem, None)
    epoch = m.group("epoch") or m.group("kohya")
    step = m.group("step")
    return RunFile(m.group("run"), int(epoch), int(step) if step else None)


def _order(item: LoraItem) -> tuple[int, int, int]:
    rf = run_file(item.name)
    if rf.epoch is None:
        return (0, 0, 0)  # the final file first: it is the end of training
    return (1, -rf.epoch, -(rf.step or 0))  # then the latest epoch first


def group_runs(items: Iterable[LoraItem]) -> list[list[LoraItem]]:
    """The LoRAs grouped by run (files of one folder whose names differ only in the epoch part), in
    the order their first file comes; a group lists the final file, then the epochs, latest first."""
    groups: dict[tuple[Path, str], list[LoraItem]] = {}
    for item in items:
        key = (item.path.parent, run_file(item.name).run.lower())
        groups.setdefault(key, []).append(item)
    return [sorted(group, key=_order) for group in groups.values()]
