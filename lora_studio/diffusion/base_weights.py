"""How a frozen base model's weights are stored. Torch-free (the training config uses it)."""

from __future__ import annotations

import enum


class BaseWeights(enum.StrEnum):
    """Storage of the frozen base weights (LoRA weights always train in fp32).

    ``fp8``: float8_e4m3fn storage, computed in bf16 one layer at a time (kohya ``fp8_base``).
    ``int8`` / ``nf4``: bitsandbytes 8-bit / 4-bit NormalFloat (QLoRA style).
    """

    FULL = "full"  # the run's precision
    FP8 = "fp8"
    INT8 = "int8"
    NF4 = "nf4"
