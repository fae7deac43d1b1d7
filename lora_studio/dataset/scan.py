"""Plain-data rows for the picture grid, read from a project off the GUI thread (Qt-free).

The grid never reads files itself: a worker runs :func:`scan_project` and hands the rows over.
Only picture headers are read here (size), never the pixels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Progress, Reporter, null_reporter
from lora_studio.dataset import captions as cap
from lora_studio.dataset.images import probe_image
from lora_studio.dataset.items import FLAG_EXCLUDED, CropBox
from lora_studio.dataset.project import Project


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One picture as the grid shows it."""

    concept: str
    key: str  # the project's record key (file name, or absolute path of a linked picture)
    path: Path
    caption_path: Path
    caption: str = ""
    has_caption: bool = False
    caption_readonly: bool = False  # saved in another encoding: shown, not edited
    width: int = 0  # 0 when the header can't be read
    height: int = 0
    file_size: int = 0
    mtime_ns: int = 0
    crop: CropBox | None = None
    mask: Path | None = None
    erase: Path | None = None  # the painted erase region (white = fill in)
    erased: Path | None = None  # the cleaned copy that is trained on instead of ``path``
    erased_mtime_ns: int = 0
    excluded: bool = False
    error: str = ""  # why the picture can't be read, in plain words

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def tags(self) -> list[str]:
        return cap.parse_tags(self.caption)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def with_caption(self) -> ImageRow:
        """The same row with its caption read again from disk."""
        cf = cap.read_caption(self.caption_path)
        return dataclasses.replace(
            self, caption=cf.text.strip(), has_caption=cf.exists, caption_readonly=cf.readonly
        )


def read_row(project: Project, concept: str, key: str) -> ImageRow:
    path = project.image_path(concept, key)
    record = project.record(concept, key)
    folder = project.concept_dir(concept)
    width = height = size = mtime = 0
    error = ""
    try:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime_ns
        info = probe_image(path)
        width, height = info.width, info.height
    except DatasetError as exc:
        error = exc.message
    except OSError as exc:
        error = f"{path.name} cannot be read: {exc.strerror or exc}."
    erased = (folder / record.erased) if record.erased else None
    erased_mtime = 0
    if erased is not None:
        try:
            erased_mtime = erased.stat().st_mtime_ns
        except OSError:
            erased_mtime = 0  # missing: the check reports it
    row = ImageRow(
        concept=concept,
        key=key,
        path=path,
        caption_path=project.caption_path(concept, key),
        width=width,
        height=height,
        file_size=size,
        mtime_ns=mtime,
        crop=record.crop,
        mask=(folder / record.mask) if record.mask else None,
        erase=(folder / record.erase) if record.erase else None,
        erased=erased,
        erased_mtime_ns=erased_mtime,
        excluded=FLAG_EXCLUDED in record.flags,
        error=error,
    )
    try:
        return row.with_caption()
    except DatasetError as exc:
        return dataclasses.replace(row, error=row.error or exc.message)


def scan_project(
    project: Project, reporter: Reporter = null_reporter, control: RunControl | None = None
) -> list[ImageRow]:
    """Every picture of every concept, in concept order then file order."""
    keys = [(c.name, k) for c in project.concepts for k in project.image_keys(c.name)]
    rows: list[ImageRow] = []
    for i, (concept, key) in enumerate(keys):
        if control is not None and i % 64 == 0:
            control.checkpoint()
            reporter(Progress(i, len(keys), "Reading pictures"))
        rows.append(read_row(project, concept, key))
    reporter(Progress(len(keys), len(keys), "Pictures read"))
    return rows
