"""`heatmap_minute_cells`: each stored minute's heatmap summed over a grid of cells (core/cells.py), written with the
minute and read for rectangles drawn on the grid."""

from collections.abc import Iterator
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
    cell_pixels: int | None  # None: the minute has no cells (stored before they were written)
    rows: int | None
    cols: int | None
    sums: bytes | None


def write_cells(conn: psycopg.Connection, camera_id: str, minute: datetime, cells: Cells) -> None:
    """Store (or replace) a minute's cells; its row in heatmap_minutes is written in the same transaction."""
    conn.execute(
        """
        INSERT INTO heatmap_minute_cells (camera_id, "timestamp", cell_pixels, rows, cols, sums)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (camera_id, "timestamp") DO UPDATE SET
            cell_pixels = EXCLUDED.cell_pixels, rows = EXCLUDED.rows, cols = EXCLUDED.cols, sums = EXCLUDED.sums
        """,
        (check_camera_id(camera_id), minute, cells.cell_pixels, *cells.sums.shape, encode_cells(cells.sums)))


def stored_cells(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime,
                 batch: int = 5000) -> Iterator[StoredCells]:
    """Every stored minute of the camera in `start <= t < end`, oldest first, with its cells where it has them."""
    after = None
    while True:
        rows = conn.execute(
            """
            SELECT m."timestamp", m.downscale_factor, m.height, m.width, c.cell_pixels, c.rows, c.cols, c.sums
            FROM heatmap_minutes m
            LEFT JOIN heatmap_minute_cells c ON c.camera_id = m.camera_id AND c."timestamp" = m."timestamp"
            WHERE m.camera_id = %s AND m."timestamp" >= %s AND m."timestamp" < %s
              AND (%s::timestamptz IS NULL OR m."timestamp" > %s)
            ORDER BY m."timestamp" LIMIT %s
            """,
            (check_camera_id(camera_id), start, end, after, after, batch), binary=True).fetchall()
        yield from (StoredCells(*row) for row in rows)
        if len(rows) < batch:
            return
        after = rows[-1][0]
