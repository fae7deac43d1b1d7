"""One problem found by a check, for every check: dataset checks and training-settings checks.

``validate(...) -> list[Issue]`` functions never raise for a problem they can describe; the UI shows
every issue at once (and the trainer refuses to start while an ERROR remains).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class Severity(enum.StrEnum):
    ERROR = "error"  # training would fail or learn garbage
    WARNING = "warning"  # training works, but the result will likely suffer
    INFO = "info"  # handled automatically; shown so nothing is a surprise


@dataclass(frozen=True, slots=True)
class Issue:
    """``code`` names the kind of problem; for a settings problem it is the dotted config field
    (``"network.alpha"``), which :attr:`field` returns. ``fix`` is an action the app can offer."""

    severity: Severity
    code: str
    path: Path | None
    message: str
    fix: enum.StrEnum | None = None
    concept: str = ""

    @property
    def field(self) -> str:
        """The dotted config path of a settings problem (the same text as ``code``)."""
        return self.code

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR


def setting_issue(severity: Severity, field: str, message: str) -> Issue:
    """A problem with one training setting, ``field`` being its dotted config path."""
    return Issue(severity, field, None, message)
