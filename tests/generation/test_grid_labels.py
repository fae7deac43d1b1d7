"""Grid labels: long column/row labels wrap or shrink and never overlap (measured text boxes)."""

from __future__ import annotations

import itertools

import pytest
from PIL import Image

from lora_studio.generation.grid import draw_grid, layout_grid

LONG_COLUMNS = [f"miso-the-cat-e{n:06d}" for n in range(1, 5)]
LONG_ROWS = [
    "a photo of miso the cat sitting on a very long windowsill in the afternoon sun, detailed fur",
    "weight 0.75",
    "supercalifragilisticexpialidocious_without_any_spaces_at_all_in_this_label_0123456789",
]


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _check(layout, n_cols: int, n_rows: int) -> None:
    boxes = [line.box for line in layout.lines]
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a, b), (a, b)
    for line in layout.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 and x1 <= layout.width and 0 <= y0 and y1 <= layout.height, line
        if line.kind == "column":
            assert layout.left + line.index * layout.cell_w <= x0, line
            assert x1 <= layout.left + (line.index + 1) * layout.cell_w, line
            assert y1 <= layout.top, line
        elif line.kind == "row":
            assert x1 <= layout.left, line
            row_top = layout.top + line.index * layout.cell_h
            assert row_top <= y0 and y1 <= row_top + layout.cell_h, line
        else:
            assert y1 <= layout.top and x1 <= layout.width, line


@pytest.mark.parametrize("cell", [(64, 64), (128, 96), (512, 512)])
def test_long_labels_never_overlap(cell):
    cell_w, cell_h = cell
    layout = layout_grid(cell_w, cell_h, len(LONG_ROWS), LONG_COLUMNS, LONG_ROWS, title="Z: " + LONG_ROWS[0])
    _check(layout, len(LONG_COLUMNS), len(LONG_ROWS))
    drawn = {
        k: "".join(line.text for line in layout.lines if line.kind == "column" and line.index == k)
        for k in range(len(LONG_COLUMNS))
    }
    for k, label in enumerate(LONG_COLUMNS):  # wrapped, never cut: every character is drawn
        assert drawn[k].replace(" ", "") == label.replace(" ", "")


def test_short_labels_keep_one_line_at_the_normal_size():
    layout = layout_grid(256, 256, 2, ["weight 0.5", "weight 1"], ["seed 1", "seed 2"])
    assert layout.font_size == 25
    assert [line.text for line in layout.lines if line.kind == "column"] == ["weight 0.5", "weight 1"]
    _check(layout, 2, 2)


def test_draw_grid_with_long_labels_places_the_images_below_the_header():
    cells = [[Image.new("RGB", (64, 64), (200, 0, 0)) for _ in LONG_COLUMNS] for _ in LONG_ROWS]
    grid = draw_grid(cells, LONG_COLUMNS, LONG_ROWS, title="miso")
    layout = layout_grid(64, 64, len(LONG_ROWS), LONG_COLUMNS, LONG_ROWS, title="miso")
    assert grid.size == (layout.width, layout.height)
    assert grid.getpixel((layout.left + 1, layout.top + 1)) == (200, 0, 0)
    assert grid.getpixel((layout.left - 1, layout.top - 1)) == (255, 255, 255)
