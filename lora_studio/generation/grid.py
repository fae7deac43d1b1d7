"""X/Y(/Z) comparison grids: one engine, one cached pipeline, a labelled grid PNG per Z value.

Axes vary a LoRA file (e.g. every saved epoch), a LoRA weight, the prompt, the seed, the CFG scale,
the steps or the sampler. Each cell is a normal generation (its PNG with full infotext is kept);
the grid image has readable column and row labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lora_studio.core.control import RunControl
from lora_studio.core.errors import GenerationError
from lora_studio.core.events import Progress, Reporter, null_reporter
from lora_studio.generation.request import GenerationRequest, LoraSpec

AXIS_KINDS = ("lora", "weight", "prompt", "seed", "cfg", "steps", "sampler")


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
        if self.kind in ("cfg", "steps", "seed"):
            return f"{ {'cfg': 'CFG', 'steps': 'steps', 'seed': 'seed'}[self.kind] } {value}"
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
) -> GridResult:
    """Generate every combination of the axes and assemble labelled grids."""
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
        grid = draw_grid(
            images,
            [x.label(v) for v in x.values],
            [y.label(v) for v in ys] if y else [],
            title=z.label(zv) if z else "",
        )
        suffix = f"-{len(result.grid_paths)}" if z else ""
        path = out / f"grid{suffix}.png"
        n = 0
        while path.exists():
            n += 1
            path = out / f"grid{suffix}-{n}.png"
        caption = f"Grid: X={x.kind}" + (f", Y={y.kind}" if y else "") + (f", Z={z.kind}" if z else "")
        info = png_info_for(base.prompt + "\n" + caption)
        atomic_write_with(path, lambda tmp, g=grid, i=info: g.save(tmp, format="PNG", pnginfo=i))
        result.grid_paths.append(str(path))
    result.cells = total
    return result


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def draw_grid(images: list[list[Any]], col_labels: list[str], row_labels: list[str], title: str = "") -> Any:
    """Lay out ``images[row][col]`` with labels above the columns and left of the rows."""
    from PIL import Image, ImageDraw

    cell_w = max(im.width for row in images for im in row)
    cell_h = max(im.height for row in images for im in row)
    font_size = max(14, min(48, cell_w // 10))
    font = _font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_w(text: str) -> int:
        box = probe.textbbox((0, 0), text, font=font)
        return int(box[2] - box[0])

    pad = font_size // 2
    top = font_size + 2 * pad + (font_size + pad if title else 0)
    left = (max((text_w(t) for t in row_labels), default=0) + 2 * pad) if row_labels else 0
    width = left + cell_w * len(col_labels)
    height = top + cell_h * len(images)
    grid = Image.new("RGB", (max(width, text_w(title) + 2 * pad), height), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((pad, pad), title, fill="black", font=font)
    label_y = top - font_size - pad
    for c, label in enumerate(col_labels):
        x0 = left + c * cell_w + max(0, (cell_w - text_w(label)) // 2)
        draw.text((x0, label_y), label, fill="black", font=font)
    for r, row in enumerate(images):
        if row_labels:
            draw.text(
                (pad, top + r * cell_h + (cell_h - font_size) // 2), row_labels[r], fill="black", font=font
            )
        for c, im in enumerate(row):
            grid.paste(im, (left + c * cell_w, top + r * cell_h))
    return grid
