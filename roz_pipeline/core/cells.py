"""A minute's heatmap summed over a grid of square cells, so that a rectangle drawn on the grid is answered from a few
hundred numbers per minute instead of the minute's whole array. No I/O.

A rectangle whose heatmap box (`core.regions.region_box`) lies on the grid's lines has, in every minute, the activity
of its cells added up: the pixels' float64 sum in another order, so equal to `region_activity` up to float64
rounding. The explorer snaps drawn rectangles to the grid; any other rectangle is read from the arrays.
"""

from dataclasses import dataclass

import numpy as np

from roz_pipeline.core.regions import HeatmapBox

CELL_PIXELS = 20  # heatmap pixels per cell side: 80 source pixels at the default factor 4, 14 x 24 cells at 1080p
CELL_DTYPE = np.dtype("<f8")  # stored as raw little-endian float64: exact sums of float32 counts, no codec to undo


@dataclass(frozen=True)
class Cells:
    sums: np.ndarray  # rows x cols float64
    cell_pixels: int
    height: int  # the heatmap's size
    width: int


def cell_sums(heatmap: np.ndarray, cell_pixels: int = CELL_PIXELS) -> Cells:
    """The heatmap's float64 sum over each `cell_pixels` square (the last row and column of cells may be partial)."""
    height, width = heatmap.shape
    rows, cols = -(-height // cell_pixels), -(-width // cell_pixels)
    padded = np.zeros((rows * cell_pixels, cols * cell_pixels), np.float64)
    padded[:height, :width] = heatmap
    return Cells(padded.reshape(rows, cell_pixels, cols, cell_pixels).sum(axis=(1, 3)), cell_pixels, height, width)


def encode_cells(sums: np.ndarray) -> bytes:
    return np.ascontiguousarray(sums, CELL_DTYPE).tobytes()


def decode_cells(blobs: list[bytes], rows: int, cols: int) -> np.ndarray:
    """Stored cells of several minutes of one grid: an (minutes, rows, cols) float64 array."""
    return np.frombuffer(b"".join(blobs), CELL_DTYPE).reshape(len(blobs), rows, cols)


def cells_of(box: HeatmapBox, height: int, width: int, cell_pixels: int) -> tuple[int, int, int, int] | None:
    """The cells that make up exactly the box (first row, end row, first column, end column), or None when an edge
    is off the grid's lines."""
    def span(low: int, high: int, size: int) -> tuple[int, int] | None:
        if low % cell_pixels or (high % cell_pixels and high != size):
            return None
        return low // cell_pixels, -(-high // cell_pixels)

    rows, cols = span(box.top, box.bottom, height), span(box.left, box.right, width)
    return None if rows is None or cols is None else (*rows, *cols)


def cells_activity(rows: np.ndarray, left: int, right: int) -> np.ndarray:
    """Per minute of an (minutes, rows, cols) array of a rectangle's cell rows, the sum over its columns
    `left <= col < right`."""
    return rows[:, :, left:right].sum(axis=(1, 2))
