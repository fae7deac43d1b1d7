"""The mask painter: brush, eraser and fill with size and hardness, invert, clear, undo, overlay
opacity and a mask-only view. Every change is saved to the project (debounced).

Two layers are painted here: the training mask (red: what the LoRA should not learn) and the erase
region (blue: a watermark or signature to fill in, in a copy of the picture that is trained on).
"""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.widgets.mask_canvas import ERASE_COLOR, HIDE_COLOR, MaskCanvas, Tool, layer_alpha
from lora_studio.dataset.scan import ImageRow

MASK, ERASE = "mask", "erase"  # the two layers
TOOL_LABELS = {
    Tool.HIDE: ("Brush", "Paint over what the LoRA should not learn (B)"),
    Tool.SHOW: ("Eraser", "Give painted areas back to training (E)"),
    Tool.FILL: ("Fill", "Hide the area enclosed by your strokes (F)"),
}
ERASE_TIPS = {
    Tool.HIDE: "Paint over a watermark, signature or text to remove it (B)",
    Tool.SHOW: "Unpaint: keep this part of the picture as it is (E)",
    Tool.FILL: "Fill the area enclosed by your strokes (F)",
}
MASK_EXPLAIN = (
    "Paint over what the LoRA should not learn, such as a busy background. Painted areas are left "
    "out when masked training is on; the picture itself is not changed. Middle-drag or Ctrl+wheel "
    "to move and zoom."
)
ERASE_EXPLAIN = (
    "Paint over a watermark, signature or date stamp: LoRA Studio fills it in from the pixels "
    "around it, in a copy that training uses. Your picture is not changed. Tick Show result to see "
    "the cleaned copy."
)


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setMinimumWidth(50)
    return s


class MaskPainterWidget(QWidget):
    mask_changed = Signal(object, object)  # ImageRow, PIL "L" image or None (no mask)
    erase_changed = Signal(object, object)  # ImageRow, PIL "L" region (white = erase) or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: ImageRow | None = None
        self.canvas = MaskCanvas()
        self.canvas.mask_edited.connect(self._on_edited)
        self._save = QTimer(self)
        self._save.setSingleShot(True)
        self._save.setInterval(600)
        self._save.timeout.connect(self.save)
        self.mode = MASK
        # The layer not being painted now: (layer, undo steps); dirty flags per layer.
        self._parked: tuple[QImage | None, list] = (None, [])
        self._dirty_layers: set[str] = set()  # layers edited since the last save
        self._result: QImage | None = None  # the cleaned copy (erase layer), as shown
        self._original: QImage | None = None
        self._erasing = False  # a cleaned copy is being made

        self.modes = QButtonGroup(self)
        mode_row = QHBoxLayout()
        mode_row.addWidget(QLabel("Paint:"))
        for mode, label, tip in (
            (MASK, "Training mask", "Hide areas from training (masked loss); red"),
            (ERASE, "Erase region", "Remove a watermark or signature from the copy used for training; blue"),
        ):
            b = QToolButton()
            b.setText(label)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setProperty("mode", mode)
            self.modes.addButton(b)
            mode_row.addWidget(b)
        self.mask_mode_button, self.erase_mode_button = self.modes.buttons()
        self.mask_mode_button.setChecked(True)
        self.modes.buttonClicked.connect(lambda b: self.set_mode(b.property("mode")))
        self.show_result = QCheckBox("Show result")
        self.show_result.setToolTip("Show the cleaned copy that training uses (R)")
        self.show_result.setShortcut("R")
        self.show_result.toggled.connect(self._on_show_result)
        mode_row.addSpacing(8)
        mode_row.addWidget(self.show_result)
        mode_row.addStretch(1)

        self.tools = QButtonGroup(self)
        tool_row = QHBoxLayout()
        for tool, (label, tip) in TOOL_LABELS.items():
            b = QToolButton()
            b.setText(label)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setShortcut({Tool.HIDE: "B", Tool.SHOW: "E", Tool.FILL: "F"}[tool])
            b.setProperty("tool", tool.value)
            self.tools.addButton(b)
            tool_row.addWidget(b)
        self.tools.buttons()[0].setChecked(True)
        self.tools.buttonClicked.connect(lambda b: setattr(self.canvas, "tool", Tool(b.property("tool"))))
        self.size = _slider(2, 600, self.canvas.brush_size)
        self.size_label = QLabel()
        self.size.valueChanged.connect(self._on_size)
        self.hardness = _slider(0, 100, round(self.canvas.hardness * 100))
        self.hardness.valueChanged.connect(lambda v: setattr(self.canvas, "hardness", v / 100))
        brush_row = QHBoxLayout()
        brush_row.addWidget(QLabel("Size"))
        brush_row.addWidget(self.size, 2)
        brush_row.addWidget(self.size_label)
        brush_row.addSpacing(8)
        brush_row.addWidget(QLabel("Hardness"))
        brush_row.addWidget(self.hardness, 1)

        self.opacity = _slider(10, 100, round(self.canvas.opacity * 100))
        self.opacity.valueChanged.connect(self._on_opacity)
        self.mask_only = QCheckBox("Show mask only")
        self.mask_only.setToolTip("White is learned, black is left out (Ctrl+M)")
        self.mask_only.setShortcut("Ctrl+M")
        self.mask_only.toggled.connect(self._on_mask_only)
        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setToolTip("Take back the last stroke (only after painting)")
        self.undo_button.clicked.connect(self.undo)
        invert = QPushButton("Invert")
        invert.setToolTip("Swap hidden and learned areas")
        invert.clicked.connect(self.canvas.invert)
        self.invert_button = invert
        hide_all = QPushButton("Hide all")
        hide_all.setToolTip("Start from a fully hidden picture, then erase what should be learned")
        hide_all.clicked.connect(self.canvas.hide_all)
        self.hide_all_button = hide_all
        clear = QPushButton("Clear")
        clear.setToolTip("Remove the mask: the whole picture is learned")
        clear.clicked.connect(self.canvas.clear)
        self.clear_button = clear
        self.layer_buttons = (invert, hide_all, clear)  # enabled when the picture is on the canvas
        tool_row.addStretch(1)
        tool_row.addWidget(self.undo_button)
        view_row = QHBoxLayout()
        view_row.addWidget(QLabel("Overlay"))
        view_row.addWidget(self.opacity, 1)
        view_row.addWidget(self.mask_only)
        actions_row = QHBoxLayout()
        for b in (invert, hide_all, clear):
            actions_row.addWidget(b)
        actions_row.addStretch(1)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setProperty("muted", True)
        explain = QLabel(MASK_EXPLAIN)
        explain.setWordWrap(True)
        explain.setProperty("muted", True)
        self.explain = explain

        layout = QVBoxLayout(self)
        layout.addLayout(mode_row)
        layout.addLayout(tool_row)
        layout.addLayout(brush_row)
        layout.addLayout(view_row)
        layout.addLayout(actions_row)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.status)
        layout.addWidget(explain)
        self._on_size(self.size.value())
        self._apply_mode_texts()
        self.set_row(None)

    # -- inputs --------------------------------------------------------------------------------
    def set_row(self, row: ImageRow | None) -> None:
        self.flush()
        self.row = row
        self._result = self._original = None
        self._parked = (None, [])
        self._erasing = False
        for button in self.layer_buttons:
            button.setEnabled(False)
        if self.show_result.isChecked():
            self.show_result.setChecked(False)
        if row is None:
            self.canvas.set_message("Click a picture to paint its mask.")
        elif row.error:
            self.canvas.set_message(row.error)
        else:
            self.canvas.set_message("Loading the picture…")
        self._update_status()

    def set_image(
        self,
        row: ImageRow,
        image: QImage,
        size: tuple[int, int],
        mask: QImage | None,
        erase: QImage | None = None,
        erased: QImage | None = None,
    ) -> None:
        if self.row is None or row.path != self.row.path:
            return
        self.canvas.set_image(image, size)
        for button in self.layer_buttons:
            button.setEnabled(True)
        self._original, self._result = image, erased
        # Build both layers: the one shown now goes on the canvas, the other is parked.
        layers = {}
        for mode, saved in ((MASK, mask), (ERASE, erase)):
            self.canvas.color = QColor(HIDE_COLOR if mode == MASK else ERASE_COLOR)
            self.canvas.layer = QImage(self.canvas.full_size, QImage.Format.Format_ARGB32_Premultiplied)
            if mode == MASK:
                self.canvas.set_mask(saved)
            else:
                self.canvas.set_region(saved)
            layers[mode] = self.canvas.take_layer()
        other = ERASE if self.mode == MASK else MASK
        self._parked = layers[other]
        layer, undo = layers[self.mode]
        self.canvas.put_layer(layer, undo, HIDE_COLOR if self.mode == MASK else ERASE_COLOR)
        self._dirty_layers.clear()
        self._update_status()

    def set_result(self, row: ImageRow, result: QImage | None) -> None:
        """The cleaned copy was made (or removed) for ``row``."""
        self._erasing = False
        if self.row is None or row.path != self.row.path:
            return
        self.row = row
        self._result = result
        self._on_show_result(self.show_result.isChecked())
        self._update_status(saved=True)

    # -- layers --------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Paint the training mask (MASK) or the erase region (ERASE)."""
        if mode == self.mode:
            return
        if self.show_result.isChecked():
            self.show_result.setChecked(False)
        current = self.canvas.take_layer()
        layer, undo = self._parked
        self._parked = current
        self.mode = mode
        self.canvas.put_layer(layer, undo, HIDE_COLOR if mode == MASK else ERASE_COLOR)
        (self.mask_mode_button if mode == MASK else self.erase_mode_button).setChecked(True)
        self._apply_mode_texts()
        self._update_status()

    def _apply_mode_texts(self) -> None:
        erase = self.mode == ERASE
        for b in self.tools.buttons():
            tool = Tool(b.property("tool"))
            b.setToolTip(ERASE_TIPS[tool] if erase else TOOL_LABELS[tool][1])
        self.explain.setText(ERASE_EXPLAIN if erase else MASK_EXPLAIN)
        self.show_result.setVisible(erase)
        self.hide_all_button.setVisible(not erase)
        self.clear_button.setToolTip(
            "Remove the erase region: train on the picture as it is" if erase else "Remove the mask: the whole picture is learned"
        )
        self.mask_only.setText("Show region only" if erase else "Show mask only")

    def _on_show_result(self, on: bool) -> None:
        showing = on and self._result is not None
        if on and self._result is None:
            self.status.setText(
                "Making the cleaned copy…" if self._erasing or self._dirty_layers else "Paint a region first: there is no cleaned copy yet."
            )
        if self._original is not None:
            self.canvas.set_shown_image(self._result if self._result is not None and showing else self._original)
        self.canvas.read_only = showing
        self.canvas.show_layer = not showing
        self.canvas.update()

    # -- actions -------------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return self.canvas.can_undo

    def undo(self) -> bool:
        return self.canvas.undo()

    def flush(self) -> None:
        """Save a pending change now (before another picture is shown)."""
        if self._save.isActive() or self._dirty_layers:
            self.save()

    def save(self) -> None:
        self._save.stop()
        if self.row is None or not self.canvas.has_image() or not self._dirty_layers:
            return
        layers, self._dirty_layers = self._dirty_layers, set()
        for mode in layers:
            # The layer on the canvas, or the other one (edited, then the user switched layers).
            layer = self.canvas.layer if mode == self.mode else self._parked[0]
            if layer is None:
                continue
            hidden = layer_alpha(layer)
            empty = not hidden.any()
            if mode == MASK:
                self.mask_changed.emit(self.row, None if empty else Image.fromarray(255 - hidden, mode="L"))
            else:
                self._erasing = not empty
                self.erase_changed.emit(self.row, None if empty else Image.fromarray(hidden, mode="L"))
        self._update_status(saved=True)

    def _on_edited(self) -> None:
        self._dirty_layers.add(self.mode)
        self.undo_button.setEnabled(self.canvas.can_undo)
        self.status.setText("Not saved yet…")
        self._save.start()

    def _on_size(self, value: int) -> None:
        self.canvas.brush_size = value
        self.size_label.setText(f"{value} px")

    def _on_opacity(self, value: int) -> None:
        self.canvas.opacity = value / 100
        self.canvas.update()

    def _on_mask_only(self, on: bool) -> None:
        self.canvas.mask_only = on
        self.canvas.update()

    def _update_status(self, saved: bool = False) -> None:
        self.undo_button.setEnabled(self.canvas.can_undo)
        if self.row is None:
            self.status.setText("")
        elif self.mode == ERASE:
            if self._erasing:
                self.status.setText("Making the cleaned copy…")
            elif self.row.erased is not None:
                self.status.setText("Region erased: training uses the cleaned copy; your picture is unchanged.")
            else:
                self.status.setText("Nothing erased: training uses the picture as it is.")
        elif saved:
            self.status.setText("Mask saved." if not self.canvas.is_empty() else "No mask: the whole picture is learned.")
        elif self.row.mask is not None:
            self.status.setText("This picture has a mask.")
        else:
            self.status.setText("No mask yet: the whole picture is learned.")
