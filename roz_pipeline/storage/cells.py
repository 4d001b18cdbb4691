"""`heatmap_minute_cells`: each stored minute's heatmap summed over a grid of cells (core/cells.py), written with the
minute and read for rectangles drawn on the grid."""

from dataclasses import dataclass
from datetime import datetime

import psycopg

from roz_pipeline.core.cells import Cells, encode_cells
from roz_pipeline.registry import check_camera_id


@dataclass(frozen=True)
class StoredCells:
    minute: datetime
    downscale_factor: float
    height: int  # the minute's heatmap size
    width: int
    cell_pixels: int
    rows: int
    cols: int
    sums: bytes


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


def stored_cells(conn: psycopg.Connection, camera_id: str, start: datetime,
                 end: datetime) -> tuple[list[StoredCells], list[datetime]]:
    """(the cells of the camera's minutes in `start <= t < end`, oldest first; the stored minutes there without
    cells, which were stored before cells were written)."""
    params = (check_camera_id(camera_id), start, end)
    found = [StoredCells(*row) for row in conn.execute(
        """
        SELECT "timestamp", downscale_factor, height, width, cell_pixels, rows, cols, sums FROM heatmap_minute_cells
        WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp"
        """, params, binary=True).fetchall()]
    stored = conn.execute('SELECT count(*) FROM heatmap_minutes WHERE camera_id = %s AND "timestamp" >= %s '
                          'AND "timestamp" < %s', params).fetchone()[0]
    if stored == len(found):  # every cells row belongs to a minute (foreign key): none lacks cells
        return found, []
    return found, [minute for (minute,) in conn.execute(
        """
        SELECT m."timestamp" FROM heatmap_minutes m
        WHERE m.camera_id = %s AND m."timestamp" >= %s AND m."timestamp" < %s AND NOT EXISTS (
            SELECT 1 FROM heatmap_minute_cells c WHERE c.camera_id = m.camera_id AND c."timestamp" = m."timestamp")
        """, params).fetchall()]
