"""Observable state objects and one-call widget bindings (the pattern of krita-ai-diffusion's models).

A tab's state is a QObject subclass that declares each value twice, side by side::

    class MixerState(ObservableState):
        weight_changed = Signal(float)
        weight = Prop(1.0)

Reading ``state.weight`` gives the value; assigning it stores the value and emits
``weight_changed`` (only when the value really changed). A class that declares a ``Prop`` without its
``<name>_changed`` signal fails at import time, so a forgotten signal can't go unnoticed.

``bind(state, "weight", spin, "value")`` keeps a widget and a property equal in both directions:
the widget shows the state's value at once, follows every later change, and writes the user's edits
back. Panels make one ``bind`` call per control instead of hand-written two-way syncing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from PySide6.QtCore import QObject, SignalInstance

T = TypeVar("T")


class Prop(Generic[T]):
    """One observable value of an :class:`ObservableState` (see the module docstring)."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Prop[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object | None, owner: type) -> Prop[T] | T:
        if instance is None:
            return self
        values: dict[str, Any] = instance.__dict__.setdefault("_prop_values", {})
        if self.name not in values:
            values[self.name] = copy.copy(self.default)  # a list default is not shared
        return values[self.name]

    def __set__(self, instance: object, value: T) -> None:
        if self.__get__(instance, type(instance)) == value:
            return
        instance.__dict__["_prop_values"][self.name] = value
        signal: SignalInstance = getattr(instance, f"{self.name}_changed")
        signal.emit(value)


class ObservableState(QObject):
    """Base of the small per-tab state objects: values only, no widgets, no engine calls."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, attr in vars(cls).items():
            if isinstance(attr, Prop) and not hasattr(cls, f"{name}_changed"):
                raise TypeError(f"{cls.__name__}.{name} needs a signal: {name}_changed = Signal(...)")


class Binding:
    """A two-way link made by :func:`bind`; ``disconnect()`` ends it."""

    def __init__(self) -> None:
        self._connections: list[tuple[SignalInstance, Callable[..., None]]] = []
        self.updating = False  # True while one side writes the other (stops echo loops)

    def connect(self, signal: SignalInstance, slot: Callable[..., None]) -> None:
        signal.connect(slot)
        self._connections.append((signal, slot))

    def disconnect(self) -> None:
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections.clear()


def _widget_signal(widget: QObject, prop: str) -> SignalInstance:
    """The signal a widget emits when ``prop`` changes: its Qt NOTIFY signal, else ``<prop>Changed``
    or ``<prop>_changed``."""
    meta = widget.metaObject()
    index = meta.indexOfProperty(prop)
    if index >= 0 and meta.property(index).hasNotifySignal():
        name = bytes(meta.property(index).notifySignal().name().data()).decode()
        return getattr(widget, name)
    for name in (f"{prop}Changed", f"{prop}_changed"):
        if hasattr(widget, name):
            return getattr(widget, name)
    raise TypeError(f"{type(widget).__name__} has no change signal for “{prop}”")


def _widget_getter(widget: QObject, prop: str) -> Callable[[], Any]:
    """A Qt property, else a Python attribute (called when it is a method, as ``form.config()``)."""
    if widget.metaObject().indexOfProperty(prop) >= 0:
        return lambda: widget.property(prop)

    def get() -> Any:
        value = getattr(widget, prop)
        return value() if callable(value) else value

    return get


def _widget_setter(widget: QObject, prop: str) -> Callable[[Any], None]:
    qt_setter = getattr(widget, "set" + prop[:1].upper() + prop[1:], None)
    if callable(qt_setter):
        return qt_setter
    py_setter = getattr(widget, f"set_{prop}", None)
    if callable(py_setter):
        return py_setter
    def set_qt_property(value: Any) -> None:
        widget.setProperty(prop, value)

    return set_qt_property


def bind(
    state: QObject,
    name: str,
    widget: QObject,
    widget_prop: str,
    *,
    to_widget: Callable[[Any], Any] | None = None,
    to_state: Callable[[Any], Any] | None = None,
    one_way: bool = False,
) -> Binding:
    """Keep ``state.<name>`` and the widget's ``widget_prop`` equal, both ways (``one_way``: the
    widget only shows the state, as a label does).

    The widget takes the state's current value first. ``to_widget``/``to_state`` convert between
    the two when they differ (a slider position stands for a weight, for example); when
    ``to_widget`` gives None the widget keeps what it shows (a state not set yet).
    """
    binding = Binding()
    set_widget = _widget_setter(widget, widget_prop)
    get_widget = _widget_getter(widget, widget_prop)

    def state_to_widget(value: Any) -> None:
        if binding.updating:
            return
        shown = to_widget(value) if to_widget else value
        if shown is None or get_widget() == shown:
            return
        binding.updating = True
        try:
            set_widget(shown)
        finally:
            binding.updating = False

    def widget_to_state(*_: Any) -> None:
        if binding.updating:
            return
        value = get_widget()
        binding.updating = True
        try:
            setattr(state, name, to_state(value) if to_state else value)
        finally:
            binding.updating = False

    state_to_widget(getattr(state, name))
    binding.connect(getattr(state, f"{name}_changed"), state_to_widget)
    if not one_way:
        binding.connect(_widget_signal(widget, widget_prop), widget_to_state)
    return binding
