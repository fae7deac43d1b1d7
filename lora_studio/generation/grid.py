"""X/Y(/Z) comparison grids: one engine, one cached pipeline, a labelled grid PNG per Z value.

Axes vary a LoRA file (e.g. every saved epoch), a LoRA weight, the prompt, the seed, the CFG scale,
FLUX.1's Distilled CFG Scale ("guidance"), the steps or the sampler. Each cell is a normal generation (its PNG with full infotext is kept);
the grid image has readable column and row labels.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lora_studio.core.control import RunControl
from lora_studio.core.errors import GenerationError
from lora_studio.core.events import Progress, Reporter, null_reporter
from lora_studio.generation.request import GenerationRequest, LoraSpec

AXIS_KINDS = ("lora", "weight", "prompt", "seed", "cfg", "guidance", "steps", "sampler")


@dataclass(frozen=True)
class GridAxis:
    """One axis: ``kind`` in :data:`AXIS_KINDS` and its values.

    ``lora``/``weight`` act on the LoRA at ``lora_index`` of the base request (for ``lora`` the
    slot is added when the request has none). ``prompt`` values replace the whole prompt, or only
    the first value's text when ``search_replace`` is set (A1111's "Prompt S/R").
    """

    kind: str
    values: tuple[Any, ...]
    lora_index: int = 0
    search_replace: bool = False

    def label(self, value: Any) -> str:
        if self.kind == "lora":
            return Path(str(value)).stem
        if self.kind == "weight":
            return f"weight {float(value):g}"
        if self.kind in ("cfg", "steps", "seed", "guidance"):
            name = {"cfg": "CFG", "steps": "steps", "seed": "seed", "guidance": "Distilled CFG"}[self.kind]
            return f"{name} {value}"
        return str(value)

    def apply(self, request: GenerationRequest, value: Any) -> GenerationRequest:
        if self.kind in ("lora", "weight"):
            loras = list(request.loras)
            if self.kind == "lora" and len(loras) <= self.lora_index:
                loras.append(LoraSpec(str(value)))
            if len(loras) <= self.lora_index:
                raise GenerationError("A weight axis needs a LoRA in the request to vary.")
            spec = loras[self.lora_index]
            loras[self.lora_index] = (
                replace(spec, path=str(value)) if self.kind == "lora" else replace(spec, weight=float(value))
            )
            return replace(request, loras=tuple(loras))
        if self.kind == "prompt":
            if self.search_replace:
                return replace(request, prompt=request.prompt.replace(str(self.values[0]), str(value)))
            return replace(request, prompt=str(value))
        if self.kind == "seed":
            return replace(request, seed=int(value))
        if self.kind == "cfg":
            return replace(request, cfg=float(value))
        if self.kind == "guidance":  # FLUX.1-dev's Distilled CFG Scale
            return replace(request, distilled_cfg=float(value))
        if self.kind == "steps":
            return replace(request, steps=int(value))
        if self.kind == "sampler":
            return replace(request, sampler=str(value), schedule="Automatic")
        raise GenerationError(
            f"Unknown grid axis “{self.kind}”.", hint="Use one of: " + ", ".join(AXIS_KINDS)
        )


@dataclass
class GridResult:
    grid_paths: list[str] = field(default_factory=list)  # one per Z value
    image_paths: list[str] = field(default_factory=list)  # every cell, in z, y, x order
    cells: int = 0


def run_grid(
    engine: Any,
    base: GenerationRequest,
    x: GridAxis,
    y: GridAxis | None = None,
    z: GridAxis | None = None,
    *,
    out_dir: str | Path | None = None,
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
    highlight: Any = None,
) -> GridResult:
    """Generate every combination of the axes and assemble labelled grids.

    ``highlight``: an X value (e.g. the recommended epoch file) whose column is framed and labelled.
    """
    from lora_studio.core.fileio import atomic_write_with
    from lora_studio.formats.infotext import png_info_for

    control = control or RunControl()
    base = engine.prepare(replace(base, batch_count=1, batch_size=1))  # one fixed seed for all cells
    out = Path(out_dir or base.output_dir)
    cells_dir = out / "cells"
    ys: Sequence[Any] = y.values if y else (None,)
    zs: Sequence[Any] = z.values if z else (None,)
    total = len(x.values) * len(ys) * len(zs)
    result = GridResult()
    done = 0
    for zv in zs:
        images: list[list[Any]] = []
        for yv in ys:
            row = []
            for xv in x.values:
                request = x.apply(base, xv)
                if y is not None:
                    request = y.apply(request, yv)
                if z is not None:
                    request = z.apply(request, zv)
                request = replace(request, output_dir=str(cells_dir))
                captured: list[Any] = []
                res = engine.generate(
                    request, reporter, control, on_image=lambda im, *_, box=captured: box.append(im.copy())
                )
                result.image_paths.extend(res.paths)
                row.append(captured[0])
                done += 1
                reporter(Progress(done, total, f"Grid cell {done}/{total}"))
            images.append(row)
        marked = x.values.index(highlight) if highlight in x.values else None
        grid = draw_grid(
            images,
            [x.label(v) + (" (keep)" if i == marked else "") for i, v in enumerate(x.values)],
            [y.label(v) for v in ys] if y else [],
            title=z.label(zv) if z else "",
            highlight_column=marked,
        )
        suffix = f"-{len(result.grid_paths)}" if z else ""
        path = out / f"grid{suffix}.png"
        n = 0
        while path.exists():
            n += 1
            path = out / f"grid{suffix}-{n}.png"
        caption = f"Grid: X={x.kind}" + (f", Y={y.kind}" if y else "") + (f", Z={z.kind}" if z else "")
        info = png_info_for(base.prompt + "\n" + caption)
        atomic_write_with(path, functools.partial(grid.save, format="PNG", pnginfo=info))
        result.grid_paths.append(str(path))
    result.cells = total
    return result


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


_MIN_FONT = 8
_MAX_COLUMN_LINES = 3  # below that many lines a column label shrinks instead of growing taller
_BREAK_AFTER = re.compile(r"(?<=[\s\-_,;:/.+])")  # wrap after spaces and separators


@dataclass(frozen=True)
class LabelLine:
    """One drawn line of a grid label: its text, where it is drawn and its ink box in the grid."""

    kind: str  # "title", "column" or "row"
    index: int  # column or row number (0 for the title)
    text: str
    xy: tuple[int, int]
    box: tuple[int, int, int, int]  # (left, top, right, bottom)


@dataclass(frozen=True)
class GridLayout:
    """Where everything of a grid goes: cells start at (``left``, ``top``); labels never overlap."""

    width: int
    height: int
    left: int
    top: int
    cell_w: int
    cell_h: int
    font_size: int
    font: Any
    lines: tuple[LabelLine, ...]


def _measure(probe: Any, font: Any) -> Callable[[str], int]:
    def text_w(text: str) -> int:
        box = probe.textbbox((0, 0), text, font=font)
        return int(box[2] - min(0, box[0]))

    return text_w


def _fits(measure: Callable[[str], int], limit: int) -> Callable[[str], bool]:
    return lambda text: measure(text) <= limit


def _wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` as lines that each ``fit``: broken after spaces/separators, else inside a word."""
    lines: list[str] = []
    current = ""
    for token in (t for t in _BREAK_AFTER.split(text) if t):
        if fits((current + token).strip()):
            current += token
            continue
        if current.strip():
            lines.append(current.strip())
        current = token.lstrip()
        while len(current) > 1 and not fits(current.strip()):
            n = 1
            while n < len(current) and fits(current[: n + 1]):
                n += 1
            lines.append(current[:n])
            current = current[n:]
    if current.strip() or not lines:
        lines.append(current.strip())
    return lines


def _ellipsize(lines: list[str], max_lines: int, fits: Callable[[str], bool]) -> list[str]:
    if len(lines) <= max_lines:
        return lines
    kept = lines[: max(1, max_lines)]
    last = kept[-1]
    while last and not fits(last + "…"):
        last = last[:-1]
    kept[-1] = last + "…" if fits(last + "…") else last
    return kept


def layout_grid(
    cell_w: int,
    cell_h: int,
    n_rows: int,
    col_labels: Sequence[str],
    row_labels: Sequence[str],
    title: str = "",
) -> GridLayout:
    """Place the labels of a ``len(col_labels)`` × ``n_rows`` grid of ``cell_w`` × ``cell_h`` cells.

    Labels wider than their cell wrap (after spaces, "-", "_" …, else inside a word); when a column
    label would need more than three lines, or row labels would not fit their row, the font
    shrinks (down to 8 px). Column labels then grow the header; row labels that still do not fit
    end in "…". Every line stays inside its own column, row or title band, so none overlap.
    """
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    n_cols = max(1, len(col_labels))
    preferred = max(14, min(48, cell_w // 10))
    sizes = list(range(preferred, _MIN_FONT - 1, -2)) or [_MIN_FONT]
    if sizes[-1] != _MIN_FONT:
        sizes.append(_MIN_FONT)
    for size in sizes:
        font = _font(size)
        text_w = _measure(probe, font)
        if hasattr(font, "getmetrics"):
            ascent, descent = font.getmetrics()
            line_h = int(ascent + descent) + max(1, size // 8)
        else:
            line_h = int(probe.textbbox((0, 0), "Ág", font=font)[3]) + 2
        pad = max(2, size // 2)
        col_fit = max(1, cell_w - pad)
        row_fit = max(cell_w, 10 * size)
        cols = [_wrap(label, _fits(text_w, col_fit)) for label in col_labels]
        rows = [_wrap(label, _fits(text_w, row_fit)) for label in row_labels]
        max_row_lines = max(1, (cell_h - 2) // line_h)
        if all(len(c) <= _MAX_COLUMN_LINES for c in cols) and all(len(r) <= max_row_lines for r in rows):
            break
    rows = [_ellipsize(r, max_row_lines, _fits(text_w, row_fit)) for r in rows]

    left = (max((text_w(t) for r in rows for t in r), default=0) + 2 * pad) if row_labels else 0
    width = left + cell_w * n_cols
    titles = _wrap(title, _fits(text_w, max(1, width - 2 * pad))) if title else []
    title_h = len(titles) * line_h + pad if titles else 0
    col_lines = max((len(c) for c in cols), default=0)
    header_h = col_lines * line_h + 2 * pad if col_labels else 0
    top = title_h + header_h
    height = top + cell_h * n_rows

    lines: list[LabelLine] = []

    def place(kind: str, index: int, text: str, x: int, y: int) -> None:
        box = probe.textbbox((x, y), text, font=font)
        lines.append(LabelLine(kind, index, text, (x, y), tuple(int(v) for v in box)))  # type: ignore[arg-type]

    for i, text in enumerate(titles):
        place("title", 0, text, pad, pad + i * line_h)
    for c, wrapped in enumerate(cols):
        y0 = title_h + pad + (col_lines - len(wrapped)) * line_h  # bottom-aligned above the images
        for i, text in enumerate(wrapped):
            x = left + c * cell_w + max(0, (cell_w - text_w(text)) // 2)
            place("column", c, text, x, y0 + i * line_h)
    for r, wrapped in enumerate(rows[:n_rows]):
        y0 = top + r * cell_h + max(0, (cell_h - len(wrapped) * line_h) // 2)
        for i, text in enumerate(wrapped):
            place("row", r, text, pad, y0 + i * line_h)
    return GridLayout(width, height, left, top, cell_w, cell_h, size, font, tuple(lines))


HIGHLIGHT_COLOUR = (30, 160, 70)


def draw_grid(
    images: list[list[Any]],
    col_labels: list[str],
    row_labels: list[str],
    title: str = "",
    highlight_column: int | None = None,
) -> Any:
    """Lay out ``images[row][col]`` with labels above the columns and left of the rows.

    Long labels wrap or shrink (see :func:`layout_grid`); they never overlap each other or the images.
    """
    from PIL import Image, ImageDraw

    cell_w = max(im.width for row in images for im in row)
    cell_h = max(im.height for row in images for im in row)
    layout = layout_grid(cell_w, cell_h, len(images), col_labels, row_labels, title)
    grid = Image.new("RGB", (layout.width, layout.height), "white")
    draw = ImageDraw.Draw(grid)
    for line in layout.lines:
        draw.text(line.xy, line.text, fill="black", font=layout.font)
    for r, row in enumerate(images):
        for c, im in enumerate(row):
            grid.paste(im, (layout.left + c * cell_w, layout.top + r * cell_h))
    if highlight_column is not None:  # a frame around the whole column, drawn over the pictures' edge
        x0 = layout.left + highlight_column * cell_w
        width = max(2, cell_w // 32)
        box = (x0, layout.top, x0 + cell_w - 1, layout.top + cell_h * len(images) - 1)
        draw.rectangle(box, outline=HIGHLIGHT_COLOUR, width=width)
    return grid
