"""`heatmap_minute_cells`: each stored minute's heatmap summed over a grid of cells (core/cells.py), written with the
minute and read for rectangles drawn on the grid."""

from dataclasses import astuple, dataclass
from datetime import datetime

import numpy as np
import psycopg

from roz_pipeline.core.cells import CELL_DTYPE, Cells, decode_cells, encode_cells
from roz_pipeline.registry import check_camera_id


@dataclass(frozen=True)
class CellGrid:
    """The grid of a minute's cells: its heatmap's size and factor, the cells' side and count."""
    downscale_factor: float
    height: int
    width: int
    cell_pixels: int
    rows: int
    cols: int


def write_cells(conn: psycopg.Connection, camera_id: str, minute: datetime, downscale_factor: float,
                cells: Cells) -> None:
    """Store (or replace) a minute's cells; its row in heatmap_minutes is written in the same transaction."""
    conn.execute(
        """
        INSERT INTO heatmap_minute_cells (
            camera_id, "timestamp", downscale_factor, height, width, cell_pixels, rows, cols, sums)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (camera_id, "timestamp") DO UPDATE SET
            downscale_factor = EXCLUDED.downscale_factor, height = EXCLUDED.height, width = EXCLUDED.width,
            cell_pixels = EXCLUDED.cell_pixels, rows = EXCLUDED.rows, cols = EXCLUDED.cols, sums = EXCLUDED.sums
        """,
        (check_camera_id(camera_id), minute, downscale_factor, cells.height, cells.width, cells.cell_pixels,
         *cells.sums.shape, encode_cells(cells.sums)))


def cell_grids(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> list[CellGrid]:
    """The grids of the camera's minute cells in `start <= t < end` (more than one across a downscale change)."""
    return [CellGrid(*row) for row in conn.execute(
        """
        SELECT DISTINCT downscale_factor, height, width, cell_pixels, rows, cols FROM heatmap_minute_cells
        WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s
        """, (check_camera_id(camera_id), start, end)).fetchall()]


def cell_rows(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime, grid: CellGrid, top: int,
              bottom: int) -> tuple[list[datetime], np.ndarray]:
    """(the camera's minutes of `start <= t < end` with cells on `grid`, oldest first; their cell rows
    `top <= row < bottom`, a (minutes, bottom - top, cols) float64 array). PostgreSQL cuts the rows out of each
    minute's cells: a rectangle reads its own rows only."""
    row_bytes = grid.cols * CELL_DTYPE.itemsize
    found = conn.execute(
        """
        SELECT "timestamp", substring(sums FROM %s FOR %s) FROM heatmap_minute_cells
        WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s AND downscale_factor = %s AND height = %s
          AND width = %s AND cell_pixels = %s AND rows = %s AND cols = %s
        ORDER BY "timestamp"
        """, (top * row_bytes + 1, (bottom - top) * row_bytes, check_camera_id(camera_id), start, end,
              *astuple(grid)), binary=True).fetchall()
    minutes = [minute for minute, _ in found]
    return minutes, decode_cells([cells for _, cells in found], bottom - top, grid.cols)


def minutes_without_cells(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> list[datetime]:
    """The camera's stored minutes in `start <= t < end` that have no cells (stored before cells were written)."""
    params = (check_camera_id(camera_id), start, end)
    minutes, with_cells = conn.execute(
        """
        SELECT (SELECT count(*) FROM heatmap_minutes WHERE camera_id = %(camera)s AND "timestamp" >= %(start)s
                                                        AND "timestamp" < %(end)s),
               (SELECT count(*) FROM heatmap_minute_cells WHERE camera_id = %(camera)s AND "timestamp" >= %(start)s
                                                             AND "timestamp" < %(end)s)
        """, dict(zip(("camera", "start", "end"), params))).fetchone()
    if minutes == with_cells:  # every cells row belongs to a minute (foreign key): none lacks cells
        return []
    return [minute for (minute,) in conn.execute(
        """
        SELECT m."timestamp" FROM heatmap_minutes m
        WHERE m.camera_id = %s AND m."timestamp" >= %s AND m."timestamp" < %s AND NOT EXISTS (
            SELECT 1 FROM heatmap_minute_cells c WHERE c.camera_id = m.camera_id AND c."timestamp" = m."timestamp")
        ORDER BY m."timestamp"
        """, params).fetchall()]
