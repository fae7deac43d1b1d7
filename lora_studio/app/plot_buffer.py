"""Growing numpy buffers for the loss plot: O(1) appends, views for drawing, EMA smoothing. Qt-free.

Over 100k steps the plot redraws from these arrays (pyqtgraph downsamples and clips to the view),
never from Python lists and never once per step.
"""

from __future__ import annotations

import numpy as np


class Series:
    """x/y pairs in preallocated float64 arrays that double when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, np.float64)
        self._y = np.empty(capacity, np.float64)
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == len(self._x):
            self._x = np.resize(self._x, 2 * len(self._x))
            self._y = np.resize(self._y, 2 * len(self._y))
        self._x[self.size] = x
        self._y[self.size] = y
        self.size += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        for x, y in zip(xs.tolist(), ys.tolist()):
            self.append(x, y)

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.size]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.size]

    def clear(self) -> None:
        self.size = 0

    def __len__(self) -> int:
        return self.size


class LossBuffer:
    """Raw loss, its debiased EMA (TensorBoard-style) and the learning rate, per step."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.loss = Series()
        self.smooth = Series()
        self.lr = Series()
        self.validation = Series()
        self.epochs: list[int] = []  # steps where an epoch ended
        self.saves: list[tuple[int, str]] = []  # (step, kind) of saved LoRA files / states
        self._smoothing = smoothing
        self._ema = 0.0
        self._weight = 0.0

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def add_step(self, step: int, loss: float, lr: float) -> None:
        self.loss.append(step, loss)
        self.lr.append(step, lr)
        self.smooth.append(step, self._next_ema(loss))

    def _next_ema(self, value: float) -> float:
        if not np.isfinite(value):
            return self._ema / self._weight if self._weight else value
        a = self._smoothing
        self._ema = a * self._ema + (1 - a) * value
        self._weight = a * self._weight + (1 - a)
        return self._ema / self._weight

    def set_smoothing(self, smoothing: float) -> None:
        """Recompute the smoothed curve (one pass; ~50 ms at 100k steps)."""
        self._smoothing = min(max(smoothing, 0.0), 0.999)
        self._ema = self._weight = 0.0
        xs, ys = self.loss.x.copy(), self.loss.y.copy()
        self.smooth.clear()
        for x, y in zip(xs.tolist(), ys.tolist()):
            self.smooth.append(x, self._next_ema(y))

    def clear(self) -> None:
        for s in (self.loss, self.smooth, self.lr, self.validation):
            s.clear()
        self.epochs.clear()
        self.saves.clear()
        self._ema = self._weight = 0.0

    def value_at(self, step: float) -> tuple[int, float, float, float] | None:
        """(step, loss, smoothed, lr) of the point nearest ``step``, for the hover read-out."""
        if not self.loss.size:
            return None
        i = int(np.clip(np.searchsorted(self.loss.x, step), 0, self.loss.size - 1))
        if i > 0 and abs(self.loss.x[i - 1] - step) < abs(self.loss.x[i] - step):
            i -= 1
        return int(self.loss.x[i]), float(self.loss.y[i]), float(self.smooth.y[i]), float(self.lr.y[i])
