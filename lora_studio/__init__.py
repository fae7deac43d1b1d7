"""LoRA Studio: from a folder of pictures to a tested Stable Diffusion LoRA."""

__version__ = "0.1.0"
