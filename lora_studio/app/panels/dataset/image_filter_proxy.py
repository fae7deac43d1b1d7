"""Filter and sort the picture grid: by concept, text, tag, missing caption, size or problems."""

from __future__ import annotations

import enum

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from lora_studio.app.panels.dataset.image_list_model import Role, worst_severity
from lora_studio.core.issues import Severity
from lora_studio.dataset.naming import natural_key
from lora_studio.dataset.scan import ImageRow

Index = QModelIndex | QPersistentModelIndex
SMALL_SIDE = 512  # "small pictures": the shorter side is below this


class Show(enum.StrEnum):
    ALL = "all"
    NO_CAPTION = "no-caption"
    PROBLEMS = "problems"
    SMALL = "small"
    CROPPED = "cropped"
    NOT_CROPPED = "not-cropped"
    MASKED = "masked"
    EXCLUDED = "excluded"


SHOW_LABELS: dict[Show, str] = {
    Show.ALL: "All pictures",
    Show.NO_CAPTION: "Without a caption",
    Show.PROBLEMS: "With problems",
    Show.SMALL: f"Small (under {SMALL_SIDE} px)",
    Show.CROPPED: "Cropped",
    Show.NOT_CROPPED: "Not cropped",
    Show.MASKED: "With a mask",
    Show.EXCLUDED: "Left out of training",
}


class SortBy(enum.StrEnum):
    NAME = "name"
    CONCEPT = "concept"
    SIZE = "size"
    CAPTION_LENGTH = "caption-length"
    PROBLEMS = "problems"


SORT_LABELS: dict[SortBy, str] = {
    SortBy.NAME: "Name",
    SortBy.CONCEPT: "Concept, then name",
    SortBy.SIZE: "Picture size",
    SortBy.CAPTION_LENGTH: "Caption length",
    SortBy.PROBLEMS: "Problems first",
}

_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, None: 3}


class ImageFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.concept: str | None = None
        self.text = ""
        self.tag = ""
        self.show = Show.ALL
        self.sort_by = SortBy.NAME
        self.setDynamicSortFilter(False)  # re-filter on request, not on every thumbnail

    def set_concept(self, concept: str | None) -> None:
        """Show one concept's pictures (None: every concept)."""
        self.concept = concept
        self.refilter()

    def set_filter(self, *, text: str | None = None, tag: str | None = None, show: Show | None = None) -> None:
        if text is not None:
            self.text = text.strip().casefold()
        if tag is not None:
            self.tag = tag.strip()
        if show is not None:
            self.show = show
        self.refilter()

    def refilter(self) -> None:
        self.beginFilterChange()
        self.endFilterChange()
        self.sort(0)  # not sorted as it changes (dynamic sort is off): pictures added or moved find their place

    def set_sort(self, sort_by: SortBy) -> None:
        self.sort_by = sort_by
        self.invalidate()
        self.sort(0)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        row: ImageRow = model.data(index, Role.ROW)
        if self.concept is not None and row.concept != self.concept:
            return False
        if self.tag and self.tag not in row.tags:
            return False
        if self.text and self.text not in row.caption.casefold() and self.text not in row.name.casefold():
            return False
        return self._shown(row, index)

    def _shown(self, row: ImageRow, index: QModelIndex) -> bool:
        show = self.show
        if show == Show.ALL:
            return True
        if show == Show.NO_CAPTION:
            return not row.has_caption or not row.caption.strip()
        if show == Show.PROBLEMS:
            return bool(row.error) or bool(self.sourceModel().data(index, Role.ISSUES))
        if show == Show.SMALL:
            side = min(row.crop.width, row.crop.height) if row.crop else min(row.width, row.height)
            return side < SMALL_SIDE
        if show == Show.CROPPED:
            return row.crop is not None
        if show == Show.NOT_CROPPED:
            return row.crop is None
        if show == Show.MASKED:
            return row.mask is not None
        if show == Show.EXCLUDED:
            return row.excluded
        return True

    def lessThan(self, left: Index, right: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        a: ImageRow = model.data(left, Role.ROW)
        b: ImageRow = model.data(right, Role.ROW)
        if self.sort_by == SortBy.SIZE:
            return (a.pixels, natural_key(a.name)) < (b.pixels, natural_key(b.name))
        if self.sort_by == SortBy.CAPTION_LENGTH:
            return (len(a.caption), natural_key(a.name)) < (len(b.caption), natural_key(b.name))
        if self.sort_by == SortBy.PROBLEMS:
            ra = _SEVERITY_RANK[worst_severity(model.data(left, Role.ISSUES))] - (1 if a.error else 0)
            rb = _SEVERITY_RANK[worst_severity(model.data(right, Role.ISSUES))] - (1 if b.error else 0)
            return (ra, natural_key(a.name)) < (rb, natural_key(b.name))
        if self.sort_by == SortBy.CONCEPT:
            return (a.concept, natural_key(a.name)) < (b.concept, natural_key(b.name))
        return (natural_key(a.name), a.concept) < (natural_key(b.name), b.concept)

    def source_rows(self) -> list[ImageRow]:
        """The rows the grid shows now, in display order."""
        return [self.data(self.index(i, 0), Role.ROW) for i in range(self.rowCount())]
