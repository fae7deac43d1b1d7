"""Base model families and their facts. Torch-free (the header sniffer lives here too)."""

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
