"""Write the app icon files from the icon the app draws (``lora_studio.app.app_icon``).

    QT_QPA_PLATFORM=offscreen python resources/sources/make_icons.py

writes ``resources/icons/lora-studio.png`` (256 px) and ``resources/icons/lora-studio.ico`` (16 to
256 px, for the Windows executable and installer), and the installer's pictures
``resources/installer/welcome.bmp`` (164×314, welcome and finish pages) and
``resources/installer/header.bmp`` (150×57, the other pages). The files are committed; run this
again only when the drawing changes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtWidgets import QApplication

ICONS = Path(__file__).resolve().parents[1] / "icons"
INSTALLER = Path(__file__).resolve().parents[1] / "installer"
TOP, BOTTOM = (40, 52, 96), (92, 62, 140)  # the welcome page's gradient (dark blue to violet)
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
    INSTALLER.mkdir(parents=True, exist_ok=True)
    welcome_bitmap(image).save(INSTALLER / "welcome.bmp")
    header_bitmap(image).save(INSTALLER / "header.bmp")
    print(f"wrote {INSTALLER / 'welcome.bmp'} and {INSTALLER / 'header.bmp'}")
    return 0


def welcome_bitmap(icon: Image.Image) -> Image.Image:
    """NSIS MUI2's welcome/finish picture: 164×314, 24-bit, no alpha."""
    width, height = 164, 314
    page = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(page)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM)))
    mark = icon.resize((112, 112), Image.Resampling.LANCZOS)
    page.paste(mark, ((width - 112) // 2, 70), mark)
    font = ImageFont.load_default(size=20)
    for text, y in (("LoRA", 200), ("Studio", 226)):
        w = draw.textlength(text, font=font)
        draw.text(((width - w) / 2, y), text, fill=(255, 255, 255), font=font)
    return page


def header_bitmap(icon: Image.Image) -> Image.Image:
    """NSIS MUI2's header picture: 150×57, 24-bit, on the header's white."""
    page = Image.new("RGB", (150, 57), (255, 255, 255))
    mark = icon.resize((48, 48), Image.Resampling.LANCZOS)
    page.paste(mark, (150 - 48 - 6, 4), mark)
    return page


if __name__ == "__main__":
    raise SystemExit(main())
