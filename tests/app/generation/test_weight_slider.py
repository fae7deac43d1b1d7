"""Issue 16 item 12: the LoRA strength slider, moved with a real mouse, wheel and keyboard."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from lora_studio.core.families import ModelFamily
from lora_studio.generation.model_library import LoraItem


def make_row(qtbot, tmp_path, weight=1.0):
    from lora_studio.app.panels.generation.lora_row_widget import LoraRowWidget

    row = LoraRowWidget(LoraItem(tmp_path / "zorb.safetensors", ModelFamily.SD1, "folder"), weight)
    qtbot.addWidget(row)
    row.resize(520, 40)
    row.show()
    qtbot.waitExposed(row)
    return row


def handle_centre(slider) -> QPoint:
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    rect = slider.style().subControlRect(
        QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, slider
    )
    return rect.center()


def mouse(slider, kind, pos: QPoint, buttons) -> None:
    event = QMouseEvent(
        kind,
        QPointF(pos),
        QPointF(slider.mapToGlobal(pos)),
        Qt.MouseButton.LeftButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(slider, event)


def test_a_small_drag_is_a_small_change(qtbot, tmp_path):
    row = make_row(qtbot, tmp_path)
    slider = row.slider
    start = handle_centre(slider)
    mouse(slider, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for dx in range(1, 29):  # the 28-pixel drag that once went from 1.00 to -0.20
        mouse(slider, QEvent.Type.MouseMove, start - QPoint(dx, 0), Qt.MouseButton.LeftButton)
    mouse(slider, QEvent.Type.MouseButtonRelease, start - QPoint(28, 0), Qt.MouseButton.NoButton)
    assert 0.3 <= row.spin.value() < 1.0
    assert round(row.spin.value() / 0.05, 6) == round(row.spin.value() / 0.05)  # on a 0.05 step


def test_wheel_and_arrow_keys_move_by_0_05_and_double_click_resets(qtbot, tmp_path):
    row = make_row(qtbot, tmp_path, 0.6)
    seen = []
    row.changed.connect(lambda *a: seen.append(a))
    slider = row.slider
    centre = QPointF(slider.rect().center())
    wheel = QWheelEvent(centre, QPointF(slider.mapToGlobal(centre.toPoint())), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(slider, wheel)
    assert row.spin.value() == 0.65 and seen[-1] == ("zorb", True, 0.65)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Left)
    qtbot.keyClick(slider, Qt.Key.Key_Left)
    assert row.spin.value() == 0.55
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert row.spin.value() == 0.6
    qtbot.mouseDClick(slider, Qt.MouseButton.LeftButton, pos=slider.rect().center())
    assert row.spin.value() == 1.0 and seen[-1] == ("zorb", True, 1.0)
    # outside the fine range the keys still step by 0.05 in the number box
    row.spin.setValue(-1.2)
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert row.spin.value() == -1.15


def test_a_long_name_is_elided_but_shown_whole_on_hover(qtbot, tmp_path):
    from lora_studio.app.panels.generation.lora_row_widget import LoraRowWidget

    name = "zorb-the-orange-mascot-standing-on-the-beach-2"
    row = LoraRowWidget(LoraItem(tmp_path / f"{name}.safetensors", ModelFamily.SD1, "folder"), 1.0)
    qtbot.addWidget(row)
    row.resize(300, 40)
    row.show()
    qtbot.waitExposed(row)
    assert row.name_label.width() < row.name_label.fontMetrics().horizontalAdvance(name)  # elided
    assert row.name_label.toolTip().splitlines()[0] == name
    assert row.details_label.toolTip().splitlines()[0] == name
