"""The Dataset tab's state: values only (no widgets, no jobs) that the view binds to."""

from __future__ import annotations

from PySide6.QtCore import Signal

from lora_studio.app.observable import ObservableState, Prop


class DatasetState(ObservableState):
    # False: added pictures are used where they are (linked). Remembered in the app settings.
    copy_into_project_changed = Signal(bool)
    copy_into_project = Prop(True)
