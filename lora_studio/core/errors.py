"""One error hierarchy for the whole app. Every message says what happened and what to do next."""

from __future__ import annotations


class LoraStudioError(Exception):
    """Base class for errors shown to the user.

    ``message`` is plain words for a non-programmer; ``hint`` (optional) says what to do next;
    ``details`` (optional) carries technical text for the "details" part of an error dialog.
    """

    def __init__(self, message: str, *, hint: str = "", details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class DatasetError(LoraStudioError):
    """A dataset, image or caption problem."""


class ConfigError(LoraStudioError):
    """A settings file or value that cannot be used."""


class ModelLoadError(LoraStudioError):
    """A checkpoint, LoRA or other model file that cannot be loaded."""


class TrainingError(LoraStudioError):
    """Training failed (out of memory, bad settings discovered at run time, ...)."""


class GenerationError(LoraStudioError):
    """Image generation failed."""


class Cancelled(Exception):  # noqa: N818 - not an error: the user asked for it
    """A long job stopped because the user cancelled it. Not an error."""
