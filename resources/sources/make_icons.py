"""Write the app icon files from the icon the app draws (``lora_studio.app.app_icon``).

    QT_QPA_PLATFORM=offscreen python resources/sources/make_icons.py

writes ``resources/icons/lora-studio.png`` (256 px) and ``resources/icons/lora-studio.ico`` (16 to
256 px, for the Windows executable and installer). The files are committed; run this again only
when the drawing changes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtWidgets import QApplication

ICONS = Path(__file__).resolve().parents[1] / "icons"
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def main() -> int:
    from lora_studio.app.app_icon import app_pixmap

    _app = QApplication.instance() or QApplication(sys.argv)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    app_pixmap(256).save(buffer, "PNG")
    image = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGBA")
    ICONS.mkdir(parents=True, exist_ok=True)
    image.save(ICONS / "lora-studio.png")
    image.save(ICONS / "lora-studio.ico", sizes=ICO_SIZES)
    print(f"wrote {ICONS / 'lora-studio.png'} and {ICONS / 'lora-studio.ico'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
