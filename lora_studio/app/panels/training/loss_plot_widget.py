"""Live loss and learning-rate plots that stay smooth over 100k+ steps.

Events only append to numpy buffers (:class:`LossBuffer`); a QTimer redraws at a few Hz when
something changed. Curves use pyqtgraph's peak downsampling and clip-to-view, so a redraw costs
about the same at 100 or 100k points. Epoch ends are dotted vertical lines, saved LoRA files are
diamonds on the smoothed curve, validation loss is an orange line with dots. Hovering shows the
values at the nearest step.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from lora_studio.app.plot_buffer import LossBuffer

REDRAW_MS = 200  # 5 redraws a second at most
RAW_COLOR = QColor(61, 123, 224, 70)
SMOOTH_COLOR = QColor("#3d7be0")
VAL_COLOR = QColor("#e8853d")
LR_COLOR = QColor("#2ea36b")
SAVE_COLOR = QColor("#2ea36b")


class LossPlotWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buffer = LossBuffer(smoothing=0.9)
        self._dirty = False
        self._drawn_epochs = 0
        self._drawn_saves = 0
        self.redraws = 0  # for tests: how often the curves were actually redrawn

        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(bg)
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.lr_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        for plot, name in ((self.loss_plot, "Loss"), (self.lr_plot, "Learning rate")):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("left", name, color=fg.name())
            plot.setMenuEnabled(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(fg)
                plot.getAxis(axis).setPen(pg.mkPen(pal.color(QPalette.ColorRole.Mid)))
            plot.getViewBox().setMouseMode(pg.ViewBox.PanMode)
        self.lr_plot.setLabel("bottom", "Step", color=fg.name())
        self.lr_plot.setXLink(self.loss_plot)
        self.lr_plot.getAxis("left").setWidth(60)
        self.loss_plot.getAxis("left").setWidth(60)
        for plot in (self.loss_plot, self.lr_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        self.placeholder = pg.TextItem("The learning curve appears here once training starts.", color=fg, anchor=(0.5, 0.5))
        self.placeholder.setPos(0.5, 0.5)
        self.loss_plot.addItem(self.placeholder, ignoreBounds=True)
        legend_bg = QColor(bg)
        legend_bg.setAlpha(210)
        self.legend = self.loss_plot.addLegend(
            offset=(-10, 10), labelTextColor=fg, brush=pg.mkBrush(legend_bg), pen=pg.mkPen(pal.color(QPalette.ColorRole.Mid))
        )

        self.raw_curve = self.loss_plot.plot(pen=pg.mkPen(RAW_COLOR, width=1), name="Loss (each step)")
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen(SMOOTH_COLOR, width=2.2), name="Smoothed")
        self.val_curve = self.loss_plot.plot(
            pen=pg.mkPen(VAL_COLOR, width=2), symbol="o", symbolSize=7, symbolBrush=VAL_COLOR,
            symbolPen=None, name="Validation",
        )
        self.save_marks = pg.ScatterPlotItem(
            symbol="d", size=11, brush=pg.mkBrush(SAVE_COLOR), pen=pg.mkPen(bg, width=1), name="Saved LoRA"
        )
        self.loss_plot.addItem(self.save_marks)
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen(LR_COLOR, width=1.8))
        for curve in (self.raw_curve, self.smooth_curve, self.lr_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            curve.setSkipFiniteCheck(True)

        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(fg, width=1, style=Qt.PenStyle.DashLine))
        self.cursor.setVisible(False)
        self.loss_plot.addItem(self.cursor, ignoreBounds=True)
        self.readout = QLabel("Hover over the curve to read values. Drag to pan, wheel to zoom.")
        self.readout.setProperty("muted", True)
        self.readout.setWordWrap(True)  # wraps instead of making the window wider than the screen
        self.readout.setMinimumWidth(120)
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(90)
        self.smoothing.setMinimumWidth(70)
        self.smoothing.setMaximumWidth(140)
        self.smoothing.setToolTip("How much the smoothed line averages over recent steps (0 = none, 0.99 = a lot).")
        self.smoothing_value = QLabel("0.90")
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.show_raw = QCheckBox("Each step")
        self.show_raw.setChecked(True)
        self.show_raw.setToolTip("Show the loss of every single step (noisy) behind the smoothed line.")
        self.show_raw.toggled.connect(self.raw_curve.setVisible)
        self.log_y = QCheckBox("Log scale")
        self.log_y.toggled.connect(lambda on: self.loss_plot.setLogMode(y=on))
        self.follow = QCheckBox("Fit to data")
        self.follow.setChecked(True)
        self.follow.setToolTip("Keep the whole run in view. Turns off when you zoom or pan.")
        self.follow.toggled.connect(self._on_follow)
        self.loss_plot.getViewBox().sigRangeChangedManually.connect(lambda *_: self.follow.setChecked(False))

        bar = QHBoxLayout()
        bar.addWidget(self.readout, 1)
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing)
        bar.addWidget(self.smoothing_value)
        for box in (self.show_raw, self.log_y, self.follow):
            bar.addWidget(box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(bar)

        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    # -- data in (cheap: no drawing here) ------------------------------------------------------
    def add_step(self, step: int, loss: float, lr: float) -> None:
        self.buffer.add_step(step, loss, lr)
        self._dirty = True

    def add_history(
        self, losses: list[float] | tuple[float, ...], lrs: list[float] | tuple[float, ...] = ()
    ) -> None:
        """A resumed run's earlier steps (1, 2, …); learning rates unknown where ``lrs`` is short."""
        for i, loss in enumerate(losses, start=1):
            self.buffer.add_step(i, loss, lrs[i - 1] if i <= len(lrs) else float("nan"))
        self._dirty = True

    def add_epoch(self, step: int) -> None:
        self.buffer.epochs.append(step)
        self._dirty = True

    def add_validation(self, step: int, loss: float) -> None:
        self.buffer.validation.append(step, loss)
        self._dirty = True

    def add_save(self, step: int, kind: str) -> None:
        self.buffer.saves.append((step, kind))
        self._dirty = True

    def clear(self) -> None:
        self.buffer.clear()
        for plot in (self.loss_plot, self.lr_plot):
            for item in list(plot.items):
                if getattr(item, "_epoch_line", False):
                    plot.removeItem(item)
        self._drawn_epochs = self._drawn_saves = 0
        self.save_marks.clear()
        self.follow.setChecked(True)
        self._dirty = True
        self.redraw()

    # -- drawing (timer) -----------------------------------------------------------------------
    @Slot()
    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.redraws += 1
        self.placeholder.setVisible(self.buffer.loss.size == 0)
        b = self.buffer
        self.raw_curve.setData(b.loss.x, b.loss.y)
        self.smooth_curve.setData(b.smooth.x, b.smooth.y)
        finite = np.isfinite(b.lr.y)
        self.lr_curve.setData(b.lr.x[finite], b.lr.y[finite])
        self.val_curve.setData(b.validation.x, b.validation.y)
        pen = pg.mkPen(self.palette().color(QPalette.ColorRole.Mid), width=1, style=Qt.PenStyle.DotLine)
        for step in b.epochs[self._drawn_epochs :]:
            for plot in (self.loss_plot, self.lr_plot):
                line = pg.InfiniteLine(pos=step, angle=90, movable=False, pen=pen)
                line._epoch_line = True  # type: ignore[attr-defined]
                plot.addItem(line, ignoreBounds=True)
        self._drawn_epochs = len(b.epochs)
        if len(b.saves) != self._drawn_saves:
            steps = [s for s, kind in b.saves if kind == "lora"]
            ys = [self._smoothed_at(s) for s in steps]
            self.save_marks.setData(steps, ys)
            self._drawn_saves = len(b.saves)
        if self.follow.isChecked():
            self.loss_plot.enableAutoRange()
            lr = b.lr.y[finite]
            top = float(lr.max()) if lr.size else 0.0
            self.lr_plot.setYRange(0.0, top * 1.15 if top > 0 else 1e-4, padding=0)

    def _smoothed_at(self, step: int) -> float:
        found = self.buffer.value_at(step)
        return found[2] if found else 0.0

    # -- interaction ---------------------------------------------------------------------------
    def _on_smoothing(self, value: int) -> None:
        self.smoothing_value.setText(f"{value / 100:.2f}")
        self.buffer.set_smoothing(value / 100)
        self._dirty = True

    def _on_follow(self, on: bool) -> None:
        if on:
            self._dirty = True
            self.redraw()

    def _on_mouse(self, args: tuple[QPointF]) -> None:
        pos = args[0]
        for plot in (self.loss_plot, self.lr_plot):
            if plot.sceneBoundingRect().contains(pos):
                x = plot.getViewBox().mapSceneToView(pos).x()
                found = self.buffer.value_at(x)
                if found is None:
                    return
                step, loss, smooth, lr = found
                self.cursor.setPos(step)
                self.cursor.setVisible(True)
                lr_text = f"   learning rate {lr:.3g}" if np.isfinite(lr) else ""
                val = self._validation_near(step)
                self.readout.setText(f"Step {step}:  loss {loss:.4f}   smoothed {smooth:.4f}{lr_text}{val}")
                return

    def _validation_near(self, step: int) -> str:
        v = self.buffer.validation
        if not v.size:
            return ""
        i = int(np.argmin(np.abs(v.x - step)))
        return f"   validation {v.y[i]:.4f} (step {int(v.x[i])})"
