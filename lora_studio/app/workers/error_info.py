"""What the UI needs to show a failure: plain words, an optional hint, technical details."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from lora_studio.core.errors import LoraStudioError

GENERIC_MESSAGE = "LoRA Studio ran into an unexpected problem."
GENERIC_HINT = (
    "You can keep working. If it happens again, use “Copy details” and include them when you report it."
)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    message: str
    hint: str = ""
    details: str = ""
    title: str = "Something went wrong"
    expected: bool = False  # True for LoraStudioError: a known problem the user can fix

    @classmethod
    def from_exception(cls, exc: BaseException, *, title: str = "Something went wrong") -> ErrorInfo:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, LoraStudioError):
            details = "\n\n".join(part for part in (exc.details, trace) if part)
            return cls(exc.message, exc.hint, details, title, expected=True)
        return cls(GENERIC_MESSAGE, GENERIC_HINT, trace, title, expected=False)

    def plain_text(self) -> str:
        """Message, hint and details as one block, for the clipboard."""
        return "\n\n".join(part for part in (self.message, self.hint, self.details) if part)
