"""Base model families and what they predict: plain enums every layer may use.

They live in ``core`` (not in ``diffusion``) so that the file-format code in ``formats`` can name a
family without depending on the model-loading layer above it.
"""

from __future__ import annotations

import enum


class ModelFamily(enum.StrEnum):
    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"

    @property
    def label(self) -> str:
        return {"sd1": "SD 1.5", "sd2": "SD 2.x", "sdxl": "SDXL"}[self.value]

    @property
    def default_resolution(self) -> int:
        return {"sd1": 512, "sd2": 768, "sdxl": 1024}[self.value]


class Prediction(enum.StrEnum):
    EPSILON = "epsilon"
    V = "v_prediction"
