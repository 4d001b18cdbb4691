"""Region series in PostgreSQL: `heatmap_regions` (each camera's named regions and whether their series is
complete) and `heatmap_region_minutes` (one activity value per camera, region and minute)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg

from roz_pipeline.core.motion import Rectangle
from roz_pipeline.core.regions import ActivityInterval, MinuteActivity
from roz_pipeline.registry import check_camera_id


@dataclass(frozen=True)
class StoredRegion:
    rectangle: Rectangle
    complete: bool

    def serves(self, rectangle: Rectangle) -> bool:
        """Whether this series answers questions about `rectangle`: computed for it, for every stored minute."""
        return self.complete and tuple(self.rectangle) == tuple(rectangle)


@dataclass(frozen=True)
class StoredArray:
    minute: datetime
    intensity_array: bytes
    height: int
    width: int
    downscale_factor: float


def write_region_activities(conn: psycopg.Connection, camera_id: str,
                            values: list[tuple[str, datetime, float]]) -> None:
    """Store (region, minute, activity) values of the camera, replacing stored ones."""
    with conn.cursor() as cursor:
        cursor.executemany(
            """
            INSERT INTO heatmap_region_minutes (camera_id, region, "timestamp", activity) VALUES (%s, %s, %s, %s)
            ON CONFLICT (camera_id, region, "timestamp") DO UPDATE SET activity = EXCLUDED.activity
            """,
            [(check_camera_id(camera_id), region, minute, activity) for region, minute, activity in values])


def stored_regions(conn: psycopg.Connection, camera_id: str) -> dict[str, StoredRegion]:
    rows = conn.execute("SELECT region, x0, y0, x1, y1, complete FROM heatmap_regions WHERE camera_id = %s",
                        (check_camera_id(camera_id),)).fetchall()
    return {region: StoredRegion((x0, y0, x1, y1), complete) for region, x0, y0, x1, y1, complete in rows}


def define_region(conn: psycopg.Connection, camera_id: str, region: str, rectangle: Rectangle,
                  complete: bool) -> None:
    """Record the rectangle a region's series is computed for; with a new rectangle, its old values go."""
    with conn.transaction():
        stored = conn.execute(
            "SELECT x0, y0, x1, y1 FROM heatmap_regions WHERE camera_id = %s AND region = %s FOR UPDATE",
            (check_camera_id(camera_id), region)).fetchone()
        if stored is not None and tuple(stored) != tuple(rectangle):
            conn.execute("DELETE FROM heatmap_region_minutes WHERE camera_id = %s AND region = %s",
                         (camera_id, region))
        conn.execute(
            """
            INSERT INTO heatmap_regions (camera_id, region, x0, y0, x1, y1, complete)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (camera_id, region) DO UPDATE SET
                x0 = EXCLUDED.x0, y0 = EXCLUDED.y0, x1 = EXCLUDED.x1, y1 = EXCLUDED.y1,
                complete = EXCLUDED.complete, updated_at = now()
            """,
            (camera_id, region, *rectangle, complete))


def delete_region(conn: psycopg.Connection, camera_id: str, region: str) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM heatmap_region_minutes WHERE camera_id = %s AND region = %s",
                     (check_camera_id(camera_id), region))
        conn.execute("DELETE FROM heatmap_regions WHERE camera_id = %s AND region = %s", (camera_id, region))


def region_series(conn: psycopg.Connection, camera_id: str, region: str, start: datetime,
                  end: datetime) -> list[MinuteActivity]:
    """The stored activity of the region in the camera's minutes `start <= t < end`, oldest first."""
    rows = conn.execute(
        """
        SELECT r."timestamp", r.activity, m.downscale_factor
        FROM heatmap_region_minutes r
        JOIN heatmap_minutes m ON m.camera_id = r.camera_id AND m."timestamp" = r."timestamp"
        WHERE r.camera_id = %s AND r.region = %s AND r."timestamp" >= %s AND r."timestamp" < %s
        ORDER BY r."timestamp"
        """,
        (check_camera_id(camera_id), region, start, end)).fetchall()
    return [MinuteActivity(minute, activity, factor) for minute, activity, factor in rows]


def region_intervals(conn: psycopg.Connection, camera_id: str, region: str, start: datetime, end: datetime,
                     min_activity: float) -> tuple[list[ActivityInterval], int]:
    """(the intervals of consecutive minutes whose stored activity in the region exceeds `min_activity`, in time
    order; the stored minutes of `start <= t < end`). The rule of `core.regions.activity_intervals` run in
    PostgreSQL (gaps and islands, sums in time order: the same floats), so that 90 days return a few rows, not
    130,000."""
    params = (check_camera_id(camera_id), region, start, end)
    rows = conn.execute(
        """
        SELECT min("timestamp"), max("timestamp") + interval '1 minute', sum(activity ORDER BY "timestamp"),
               (array_agg("timestamp" ORDER BY activity DESC, "timestamp"))[1], max(activity)
        FROM (
            SELECT "timestamp", activity,
                   "timestamp" - interval '1 minute' * row_number() OVER (ORDER BY "timestamp") AS island
            FROM heatmap_region_minutes
            WHERE camera_id = %s AND region = %s AND "timestamp" >= %s AND "timestamp" < %s AND activity > %s
        ) active
        GROUP BY island ORDER BY island
        """,
        (*params, min_activity)).fetchall()
    stored = conn.execute(
        'SELECT count(*) FROM heatmap_region_minutes WHERE camera_id = %s AND region = %s AND "timestamp" >= %s '
        'AND "timestamp" < %s', params).fetchone()[0]
    return [ActivityInterval(*row) for row in rows], stored


def stored_arrays(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime,
                  batch: int = 500) -> Iterator[StoredArray]:
    """The camera's minute arrays in `start <= t < end`, oldest first, `batch` rows per query."""
    after = None
    while True:
        rows = conn.execute(
            """
            SELECT "timestamp", intensity_array, height, width, downscale_factor FROM heatmap_minutes
            WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s
              AND (%s::timestamptz IS NULL OR "timestamp" > %s)
            ORDER BY "timestamp" LIMIT %s
            """,
            (check_camera_id(camera_id), start, end, after, after, batch), binary=True).fetchall()
        yield from (StoredArray(*row) for row in rows)
        if len(rows) < batch:
            return
        after = rows[-1][0]


def minute_clip_keys(conn: psycopg.Connection, camera_id: str, minutes: list[datetime]) -> dict[datetime, list[str]]:
    """The clip keys each of the camera's `minutes` was built from, in recording order."""
    rows = conn.execute(
        'SELECT "timestamp", clip_keys FROM heatmap_minute_sources WHERE camera_id = %s AND "timestamp" = ANY(%s)',
        (check_camera_id(camera_id), minutes)).fetchall()
    return dict(rows)
