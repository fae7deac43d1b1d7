"""Results: a large view with the picture's settings, actions, and a strip of earlier pictures."""

from __future__ import annotations

import html
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.desktop import open_folder
from lora_studio.app.panels.generation.image_view_widget import ImageViewWidget
from lora_studio.core.control import RunControl
from lora_studio.core.events import Reporter

log = logging.getLogger(__name__)

THUMB = 88
MAX_ITEMS = 300


@dataclass(frozen=True, slots=True)
class GalleryEntry:
    path: Path
    seed: int
    infotext: str


def infotext_html(infotext: str) -> str:
    """The settings of a picture as short, readable HTML."""
    from lora_studio.formats.infotext import parse_infotext
    from lora_studio.generation.request import extract_lora_tags

    if not infotext.strip():
        return "<i>This picture has no stored settings.</i>"
    try:
        p = parse_infotext(infotext)
    except Exception:  # noqa: BLE001 - other tools write odd text; show it as it is
        return f"<pre>{html.escape(infotext)}</pre>"
    try:
        prompt, tags = extract_lora_tags(p.prompt)
    except Exception:  # noqa: BLE001
        prompt, tags = p.prompt, []
    facts = [
        f"seed <b>{p.seed}</b>" if p.seed is not None else "",
        html.escape(p.sampler or "")
        + (
            f" ({html.escape(p.schedule_type)})" if p.schedule_type and p.schedule_type != "Automatic" else ""
        ),
        f"{p.steps} steps" if p.steps else "",
        f"CFG {p.cfg_scale:g}" if p.cfg_scale is not None else "",
        f"{p.width}×{p.height}" if p.width and p.height else "",
        f"model {html.escape(p.model_name)}" if p.model_name else "",
        f"clip skip {p.clip_skip}" if p.clip_skip and p.clip_skip > 1 else "",
        f"change {p.denoising_strength:g}" if p.denoising_strength is not None else "",
    ]
    parts = [f"<b>Prompt:</b> {html.escape(prompt) or '<i>(empty)</i>'}"]
    if tags:
        parts.append("<b>LoRAs:</b> " + ", ".join(f"{html.escape(t.name)} <b>{t.weight:g}</b>" for t in tags))
    if p.negative_prompt:
        parts.append(f"<b>Negative:</b> {html.escape(p.negative_prompt)}")
    parts.append(" · ".join(f for f in facts if f))
    return "<br>".join(parts)


def load_thumbnail(path: Path, size: int = THUMB) -> QImage:
    """Decode ``path`` into a small QImage (safe on any thread)."""
    image = QImage(str(path))
    if image.isNull():
        return image
    return image.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class GalleryWidget(QWidget):
    reuse_settings_requested = Signal(GalleryEntry)  # GalleryEntry
    reuse_seed_requested = Signal(int)
    send_to_dataset_requested = Signal(GalleryEntry)  # GalleryEntry
    use_as_init_requested = Signal(Path)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[GalleryEntry] = []
        self.view = ImageViewWidget("Your pictures appear here.\nWrite a prompt and press Generate.")
        self.view.setMinimumHeight(240)
        self.info = QTextBrowser()
        self.info.setOpenLinks(False)
        self.info.setMaximumHeight(96)
        self.info.setPlaceholderText("The settings of the selected picture show here.")

        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the picture to the clipboard")
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Save the selected picture (with its settings) where you choose")
        self.folder_button = QPushButton("Open folder")
        self.folder_button.setToolTip("Show the selected picture's folder")
        self.reuse_button = QPushButton("Reuse settings")
        self.reuse_button.setToolTip("Put this picture's prompt, LoRAs and settings back in the controls")
        self.seed_button = QPushButton("Reuse seed")
        self.seed_button.setToolTip("Keep this picture's seed to try changes on the same composition")
        self.dataset_button = QPushButton("Send to dataset…")
        self.dataset_button.setToolTip("Add this picture to a concept of the open project")
        self.init_button = QPushButton("Use as start picture")
        self.init_button.setToolTip("Change this picture with img2img or inpainting")
        self.action_buttons = [
            self.copy_button, self.save_button, self.folder_button,
            self.reuse_button, self.seed_button, self.init_button, self.dataset_button,
        ]  # fmt: skip
        actions = QVBoxLayout()
        actions.setSpacing(4)
        # Two rows that each fit the column at 1280 px: what to do with the picture next, then the rest.
        c, s_, f, r, seed, init, ds = self.action_buttons
        for group in ((init, ds, seed), (r, c, s_, f)):
            row = QHBoxLayout()
            row.setSpacing(4)
            for button in group:
                row.addWidget(button)
            row.addStretch(1)
            actions.addLayout(row)
        self.copy_button.clicked.connect(self.copy_current)
        self.save_button.clicked.connect(self._save_as)
        self.folder_button.clicked.connect(lambda: self._with_current(lambda e: open_folder(e.path.parent)))
        self.reuse_button.clicked.connect(lambda: self._with_current(self.reuse_settings_requested.emit))
        self.seed_button.clicked.connect(
            lambda: self._with_current(lambda e: self.reuse_seed_requested.emit(e.seed))
        )
        self.dataset_button.clicked.connect(lambda: self._with_current(self.send_to_dataset_requested.emit))
        self.init_button.clicked.connect(
            lambda: self._with_current(lambda e: self.use_as_init_requested.emit(e.path))
        )

        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(THUMB, THUMB))
        self.strip.setFixedHeight(THUMB + 26)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.setSpacing(3)
        self.strip.currentRowChanged.connect(self._show_row)
        self.strip_label = QLabel("History")
        self.strip_label.setProperty("muted", True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        layout.addLayout(actions)
        layout.addWidget(self.strip_label)
        layout.addWidget(self.strip)
        self._update_buttons()

    # -- contents --------------------------------------------------------------------------------
    def add_entry(self, entry: GalleryEntry, thumbnail: QImage | None = None, *, select: bool = True) -> None:
        """Add a picture at the front of the strip (newest first)."""
        thumb = thumbnail if thumbnail is not None else load_thumbnail(entry.path)
        item = QListWidgetItem(QIcon(QPixmap.fromImage(thumb)), "")
        item.setToolTip(f"{entry.path.name}\nseed {entry.seed}")
        item.setSizeHint(QSize(THUMB + 8, THUMB + 8))
        self.entries.insert(0, entry)
        self.strip.insertItem(0, item)
        while len(self.entries) > MAX_ITEMS:
            self.entries.pop()
            self.strip.takeItem(self.strip.count() - 1)
        if select:
            self.strip.setCurrentRow(0)
        self._update_buttons()

    def clear(self) -> None:
        self.entries.clear()
        self.strip.clear()
        self._show_row(-1)

    def current(self) -> GalleryEntry | None:
        row = self.strip.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def show_preview(self, image: QImage, text: str) -> None:
        """A live preview while generating (not added to the history)."""
        self.view.set_image(image, keep_zoom=True)
        self.info.setHtml(f"<i>{html.escape(text)}</i>")

    def show_current(self) -> None:
        self._show_row(self.strip.currentRow())

    def _show_row(self, row: int) -> None:
        entry = self.entries[row] if 0 <= row < len(self.entries) else None
        if entry is None:
            self.view.set_image(None)
            self.info.clear()
        else:
            self.view.set_image(QImage(str(entry.path)))
            self.info.setHtml(infotext_html(entry.infotext))
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.current() is not None
        for button in self.action_buttons:
            button.setEnabled(has)
        self.strip_label.setText(f"History ({len(self.entries)})" if self.entries else "History")

    # -- actions ---------------------------------------------------------------------------------
    def _with_current(self, fn: object) -> None:
        entry = self.current()
        if entry is not None and callable(fn):
            fn(entry)

    def copy_current(self) -> None:
        entry = self.current()
        if entry is not None:
            QGuiApplication.clipboard().setImage(QImage(str(entry.path)))

    def _save_as(self) -> None:
        entry = self.current()
        if entry is None:
            return
        target, _ = QFileDialog.getSaveFileName(
            self, "Save picture as", str(Path.home() / entry.path.name), "PNG picture (*.png)"
        )
        if target:
            import shutil

            try:
                shutil.copyfile(entry.path, target)  # a byte copy keeps the stored settings
            except OSError as exc:
                log.warning("Could not save %s: %s", target, exc)


def recent_pictures(folder: Path, limit: int = 60) -> list[Path]:
    """The newest PNGs under ``folder`` (grid cells skipped), newest first."""
    found: list[tuple[float, Path]] = []
    if not folder.is_dir():
        return []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in ("cells", "grids") and not d.startswith(".")]
        for name in files:
            if name.lower().endswith(".png"):
                p = Path(root) / name
                try:
                    found.append((p.stat().st_mtime, p))
                except OSError:
                    continue
    found.sort(reverse=True)
    return [p for _, p in found[:limit]]


def history_job(folder: Path, limit: int = 60):
    """Thumbnails and stored settings of the newest pictures in ``folder`` (oldest first)."""

    def run(reporter: Reporter, control: RunControl) -> list[tuple[Path, QImage, str]]:
        from lora_studio.formats.infotext import read_png_parameters

        del reporter
        out: list[tuple[Path, QImage, str]] = []
        for path in recent_pictures(folder, limit):
            control.checkpoint()
            try:
                text = read_png_parameters(path) or ""
            except Exception:  # noqa: BLE001 - a broken file just shows without settings
                text = ""
            out.append((path, load_thumbnail(path), text))
        return list(reversed(out))

    return run
