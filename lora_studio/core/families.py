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
    FLUX = "flux"  # FLUX.1 dev / schnell (a transformer, not a UNet; flow matching)

    @property
    def label(self) -> str:
        return {"sd1": "SD 1.5", "sd2": "SD 2.x", "sdxl": "SDXL", "flux": "FLUX.1"}[self.value]

    @property
    def default_resolution(self) -> int:
        return {"sd1": 512, "sd2": 768, "sdxl": 1024, "flux": 1024}[self.value]

    @property
    def is_unet(self) -> bool:
        """SD 1.5 / 2.x / SDXL are UNets with CLIP text encoders; FLUX.1 is a transformer."""
        return self is not ModelFamily.FLUX


class Prediction(enum.StrEnum):
    EPSILON = "epsilon"
    V = "v_prediction"
    FLOW = "flow_matching"  # FLUX.1: the model predicts the velocity noise - image
