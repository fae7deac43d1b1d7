"""Light and dark looks on Qt's Fusion style, plus following the system setting."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from lora_studio.core import paths
from lora_studio.core.settings import Theme

ACCENT = QColor("#3d7be0")

THEME_LABELS: dict[Theme, str] = {
    Theme.SYSTEM: "Same as the system",
    Theme.LIGHT: "Light",
    Theme.DARK: "Dark",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#1f2328",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f6f8fa",
    QPalette.ColorRole.Text: "#1f2328",
    QPalette.ColorRole.Button: "#f6f7f9",
    QPalette.ColorRole.ButtonText: "#1f2328",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1f2328",
    QPalette.ColorRole.PlaceholderText: "#8b949e",
    QPalette.ColorRole.Mid: "#c9ced6",
    QPalette.ColorRole.Dark: "#a0a7b1",
    QPalette.ColorRole.Midlight: "#e4e7eb",
    QPalette.ColorRole.Light: "#ffffff",
    QPalette.ColorRole.Shadow: "#6e7781",
    QPalette.ColorRole.Link: "#2f6fd6",
    QPalette.ColorRole.BrightText: "#cf222e",
}

_DARK = {
    QPalette.ColorRole.Window: "#24262b",
    QPalette.ColorRole.WindowText: "#e6e8eb",
    QPalette.ColorRole.Base: "#1b1d21",
    QPalette.ColorRole.AlternateBase: "#272a30",
    QPalette.ColorRole.Text: "#e6e8eb",
    QPalette.ColorRole.Button: "#30333a",
    QPalette.ColorRole.ButtonText: "#e6e8eb",
    QPalette.ColorRole.ToolTipBase: "#30333a",
    QPalette.ColorRole.ToolTipText: "#e6e8eb",
    QPalette.ColorRole.PlaceholderText: "#7d848e",
    QPalette.ColorRole.Mid: "#3d4048",
    QPalette.ColorRole.Dark: "#17181b",
    QPalette.ColorRole.Midlight: "#353840",
    QPalette.ColorRole.Light: "#45484f",
    QPalette.ColorRole.Shadow: "#0c0d0f",
    QPalette.ColorRole.Link: "#79a8ff",
    QPalette.ColorRole.BrightText: "#ff7b72",
}


def style_sheet() -> str:
    """The app's style sheet (``resources/styles/app.qss``): only what a palette can't say."""
    return paths.resource("styles", "app.qss").read_text("utf-8")


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def build_palette(dark: bool) -> QPalette:
    palette = QPalette()
    for role, color in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.ColorRole.Highlight, ACCENT)
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    disabled_text = QColor("#6b7079" if dark else "#9aa1ab")
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled_text)
    return palette


def is_dark(theme: Theme) -> bool:
    return theme == Theme.DARK or (theme == Theme.SYSTEM and system_prefers_dark())


_APPLIED = "loraStudioLook"  # an application property: the look last applied ("dark"/"light")


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Fusion everywhere, so the app looks the same on every Windows version.

    Settings change for many reasons (a folder, a captioner path); a new palette and style sheet
    re-polish every widget of every window, so they are set only when the look actually changes."""
    if app.style().name().lower() != "fusion":
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setProperty(_APPLIED, None)
    look = "dark" if is_dark(theme) else "light"
    if app.property(_APPLIED) == look:
        return
    app.setPalette(build_palette(look == "dark"))
    app.setStyleSheet(style_sheet())
    app.setProperty(_APPLIED, look)
