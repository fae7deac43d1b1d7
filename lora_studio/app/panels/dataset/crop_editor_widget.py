"""Crop one picture (stored in the project; the original file is never cut) and crop many at once.

Shows where the crop ends up in training (bucket size and scale) and warns before a picture would
be enlarged.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.dataset.crop_canvas import CropCanvas
from lora_studio.dataset.items import CropBox
from lora_studio.dataset.ops import (
    ASPECT_PRESETS,
    SD15_BUCKETS,
    SDXL_CLASSIC_BUCKETS,
    buckets_for,
    center_crop_box,
    effective_training_size,
    upscale_warning,
)
from lora_studio.dataset.scan import ImageRow


@dataclass(frozen=True, slots=True)
class CropPreset:
    label: str
    aspect: float | None  # width / height; None = any shape
    resolution: int | None = None  # switches "Train at" when chosen


def _orientation(w: int, h: int) -> str:
    return "square" if w == h else ("portrait" if h > w else "landscape")


def crop_presets() -> list[CropPreset | None]:
    """Presets for the shape menu; None is a separator."""
    out: list[CropPreset | None] = [CropPreset("Any shape", None)]
    out += [
        CropPreset(f"Square, for {r} training{note}", 1.0, r)
        for r, note in ((512, " (SD 1.5)"), (768, ""), (1024, " (SDXL)"))
    ]
    out.append(None)
    sd15 = [b for b in SD15_BUCKETS if 0.5 <= b[0] / b[1] <= 2 and b[0] != b[1]]
    out += [CropPreset(f"SD 1.5 {w}×{h} ({_orientation(w, h)})", w / h, 512) for w, h in sd15]
    out.append(None)
    out += [
        CropPreset(f"SDXL {w}×{h} ({_orientation(w, h)})", w / h, 1024)
        for w, h in SDXL_CLASSIC_BUCKETS
        if w != h
    ]
    out.append(None)
    out += [CropPreset(f"Ratio {name}", ratio) for name, ratio in ASPECT_PRESETS.items() if name != "1:1"]
    return out


RESOLUTIONS = {512: "512 (SD 1.5)", 768: "768 (SD 2)", 1024: "1024 (SDXL)"}


def _show_zoom(canvas: CropCanvas, label: QLabel, fit: QToolButton, scale: float) -> None:
    """The zoom in percent; Fit only when the picture is not shown whole (it would do nothing)."""
    label.setText(f"{scale * 100:.0f}%")
    whole = abs(canvas.zoom - 1.0) < 1e-6
    fit.setEnabled(canvas.has_image() and not whole)
    fit.setToolTip("The whole picture is shown" if whole else "Show the whole picture")


class CropEditorWidget(QWidget):
    crop_changed = Signal(object, object)  # ImageRow, CropBox or None
    batch_requested = Signal(str, object, int)  # "centre" | "fit", aspect or None, resolution
    resolution_chosen = Signal(int)  # the person picked another training resolution

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: ImageRow | None = None
        self._selection = 0
        self.canvas = CropCanvas()
        self.canvas.crop_edited.connect(self._update_info)
        self.canvas.crop_finished.connect(lambda _box: self._save.start())
        self._save = QTimer(self)
        self._save.setSingleShot(True)
        self._save.setInterval(250)  # nudges in a row become one save
        self._save.timeout.connect(self.save)

        self.presets = crop_presets()
        self.shape = QComboBox()
        for i, p in enumerate(self.presets):
            if p is None:
                self.shape.insertSeparator(self.shape.count())
            else:
                self.shape.addItem(p.label, i)
        self.shape.setMaxVisibleItems(24)
        self.shape.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.shape.setMinimumContentsLength(14)
        self.shape.currentIndexChanged.connect(self._on_shape)
        self.resolution = QComboBox()
        for r, label in RESOLUTIONS.items():
            self.resolution.addItem(label, r)
        self.resolution.setToolTip("The project's training resolution (the Training tab's setting)")
        self.set_train_resolution(512)
        self.resolution.currentIndexChanged.connect(lambda _: self._update_info())
        self.resolution.activated.connect(lambda _: self.resolution_chosen.emit(self.train_resolution()))

        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(44)
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip("Show the whole picture")
        fit.clicked.connect(lambda: self.canvas.set_zoom(1.0))
        actual = QToolButton()
        actual.setText("100%")
        actual.setToolTip("One screen pixel per picture pixel")
        actual.clicked.connect(self.canvas.zoom_to_actual)
        zoom_in = QToolButton()
        zoom_in.setText("+")
        zoom_in.setToolTip("Zoom in")
        zoom_in.clicked.connect(lambda: self.canvas.set_zoom(self.canvas.zoom * 1.25))
        zoom_out = QToolButton()
        zoom_out.setText("−")
        zoom_out.setToolTip("Zoom out")
        zoom_out.clicked.connect(lambda: self.canvas.set_zoom(self.canvas.zoom / 1.25))
        self.canvas.zoom_changed.connect(lambda s: _show_zoom(self.canvas, self.zoom_label, fit, s))

        top = QHBoxLayout()
        top.addWidget(QLabel("Shape"))
        top.addWidget(self.shape, 1)
        top.addWidget(QLabel("Train at"))
        top.addWidget(self.resolution)
        zoom_row = QHBoxLayout()
        for w in (zoom_out, self.zoom_label, zoom_in, fit, actual):
            zoom_row.addWidget(w)
        zoom_row.addStretch(1)
        self.clear_button = QPushButton("Whole picture")
        self.clear_button.setToolTip("Remove the crop: train on the whole picture")
        self.clear_button.clicked.connect(self.clear_crop)
        self.centre_button = QPushButton("Centre crop")
        self.centre_button.setToolTip("The largest box of the chosen shape in the middle of the picture")
        self.centre_button.clicked.connect(self.centre_crop)
        zoom_row.addWidget(self.centre_button)
        zoom_row.addWidget(self.clear_button)
        self.image_tools = (zoom_out, zoom_in, fit, actual, self.centre_button, self.clear_button)

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #9a6700;")
        self.warning.hide()
        help_text = QLabel(
            "Drag to draw a box, drag its corners to resize. Arrow keys move it (Shift: 10 px), "
            "Ctrl+arrows resize. Ctrl+wheel zooms. The original file is never changed."
        )
        help_text.setWordWrap(True)
        help_text.setProperty("muted", True)

        self.batch_centre = QPushButton("Centre-crop the selected pictures")
        self.batch_centre.setToolTip(
            "Every selected picture gets the largest centred box of the chosen shape"
        )
        self.batch_centre.clicked.connect(lambda: self._batch("centre"))
        self.batch_fit = QPushButton("Trim selected to their nearest training shape")
        self.batch_fit.setToolTip(
            "Cuts as little as possible so each picture matches a training size exactly (no stretching)"
        )
        self.batch_fit.clicked.connect(lambda: self._batch("fit"))
        batch_row = QVBoxLayout()
        batch_row.setSpacing(4)
        batch_row.addWidget(self.batch_centre)
        batch_row.addWidget(self.batch_fit)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(zoom_row)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.warning)
        layout.addWidget(help_text)
        layout.addLayout(batch_row)
        self.set_row(None)
        self.set_selection_count(0)

    # -- inputs --------------------------------------------------------------------------------
    def set_row(self, row: ImageRow | None) -> None:
        if self._save.isActive():
            self._save.stop()
            self.save()
        self.row = row
        for tool in self.image_tools:  # enabled when the picture is on the canvas (set_image)
            tool.setEnabled(False)
        self.canvas.set_crop(row.crop if row else None)
        if row is None:
            self.canvas.set_message("Click a picture to crop it.")
        elif row.error:
            self.canvas.set_message(row.error)
        else:
            self.canvas.set_message("Loading the picture…")
        self._update_info()

    def set_image(self, row: ImageRow, image: QImage, size: tuple[int, int]) -> None:
        if self.row is None or row.path != self.row.path:
            return
        for tool in self.image_tools:
            tool.setEnabled(True)
        self.canvas.set_image(image, size)
        self.canvas.set_crop(self.row.crop)
        self._update_info()

    def set_selection_count(self, n: int) -> None:
        self._selection = n
        for b in (self.batch_centre, self.batch_fit):
            b.setEnabled(n > 0)
        self.batch_centre.setText(
            f"Centre-crop {n} selected" if n > 1 else "Centre-crop the selected picture"
        )
        self.batch_fit.setText(
            f"Trim {n} selected to their nearest training shape"
            if n > 1
            else "Trim to the nearest training shape"
        )

    def preset(self) -> CropPreset:
        preset = self.presets[int(self.shape.currentData() or 0)]
        assert preset is not None
        return preset

    def set_preset(self, label: str) -> None:
        self.shape.setCurrentIndex(self.shape.findText(label))

    def train_resolution(self) -> int:
        return int(self.resolution.currentData())

    def set_train_resolution(self, resolution: int) -> None:
        """Show the project's training resolution (added to the list when it is not a usual one)."""
        index = self.resolution.findData(resolution)
        if index < 0:
            self.resolution.addItem(str(resolution), resolution)
            index = self.resolution.count() - 1
        self.resolution.setCurrentIndex(index)

    # -- actions -------------------------------------------------------------------------------
    def _on_shape(self) -> None:
        p = self.preset()
        self.canvas.set_aspect(p.aspect)
        if p.aspect and self.canvas.has_image():
            w, h = self.canvas.full_size.width(), self.canvas.full_size.height()
            current = self.canvas.crop
            if current is None or abs(current.width / current.height - p.aspect) > 0.01:
                self.canvas.set_crop(center_crop_box(w, h, p.aspect))
                self._save.start()
        self._update_info()

    def centre_crop(self) -> None:
        if not self.canvas.has_image():
            return
        w, h = self.canvas.full_size.width(), self.canvas.full_size.height()
        aspect = self.preset().aspect or (
            self.canvas.crop.width / self.canvas.crop.height if self.canvas.crop else 1.0
        )
        self.set_crop(center_crop_box(w, h, aspect))

    def clear_crop(self) -> None:
        self.canvas.set_crop(None)
        self._update_info()
        self.save()

    def set_crop(self, crop: CropBox | None) -> None:
        """Set the crop as if drawn, and save it."""
        self.canvas.set_crop(crop)
        self._update_info()
        self.save()

    def save(self) -> None:
        self._save.stop()
        if self.row is None or not self.canvas.has_image():
            return
        crop = self.canvas.crop
        if crop is not None and crop == self.canvas.whole():
            crop = None  # the whole picture is the same as no crop
        if crop != self.row.crop:
            self.crop_changed.emit(self.row, crop)

    def _batch(self, mode: str) -> None:
        self.batch_requested.emit(mode, self.preset().aspect, self.train_resolution())

    def _update_info(self, *_: object) -> None:
        row = self.row
        if row is None or not row.width:
            self.info.setText("")
            self.warning.hide()
            return
        crop = self.canvas.crop if self.canvas.has_image() else row.crop
        res = self.train_resolution()
        ts = effective_training_size((row.width, row.height), res, crop, buckets_for(res))
        used = (
            f"Crop {crop.width} × {crop.height} px"
            if crop
            else f"Whole picture, {row.width} × {row.height} px"
        )
        change = "enlarged" if ts.upscaled else "reduced"
        factor = f"{ts.scale:.2f}×" if abs(ts.scale - 1) > 0.005 else "kept at full size"
        scale_text = factor if factor == "kept at full size" else f"{change} {factor}"
        self.info.setText(f"{used} → trained at <b>{ts.bucket[0]} × {ts.bucket[1]}</b> ({scale_text})")
        warning = upscale_warning(ts)
        self.warning.setText(f"⚠ {warning}" if warning else "")
        self.warning.setVisible(bool(warning))
