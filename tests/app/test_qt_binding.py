"""Guard against Qt bindings that corrupt reference counts (PySide6 6.12.0 on Python 3.11 did).

That release released a reference to None/True/False on every Qt call returning nothing; after a
few minutes of use the interpreter aborted with "none_dealloc". Python >= 3.12 makes those objects
immortal, so the bug only shows on 3.11 — which our users run.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel


class _Emitter(QObject):
    ping = Signal(object)


def test_qt_calls_do_not_leak_or_steal_references_to_singletons(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    emitter = _Emitter()
    received = []
    emitter.ping.connect(received.append)
    before = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True), ("False", False))}
    for i in range(2000):
        label.setText(str(i))
        label.isVisible()
        label.isHidden()
        emitter.ping.emit(i)
    after = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True), ("False", False))}
    # A healthy binding leaves the counts where they were (give a little slack for unrelated code).
    for name in before:
        assert abs(after[name] - before[name]) < 200, f"{name}: {before[name]} -> {after[name]}"
    assert len(received) == 2000
