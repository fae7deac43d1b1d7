"""Opening folders in the system file manager."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger(__name__)


def open_folder(folder: Path) -> bool:
    """Create ``folder`` if needed and show it in Explorer/Finder. Returns False if that failed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("Could not create %s: %s", folder, exc)
        return False
    ok = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
    if not ok:
        log.warning("Could not open %s in the file manager.", folder)
    return bool(ok)
