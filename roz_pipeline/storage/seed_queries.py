"""The seed's example queries exactly as db/README.md words them, parameterized and in UTC: for Python readers of
`heatmap_minutes` (db/README.md points them here), and the yardstick the tests and benchmarks hold Roz's faster paths
(rollups, the per-camera index walk) against. The pipeline itself answers from those faster paths."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.registry import check_camera_id
from roz_pipeline.storage.maintenance import table_stats
from roz_pipeline.storage.minutes import StoredMinute, minutes_between, stored_minute


@dataclass(frozen=True)
class CameraFreshness:
    camera_id: str
    last_data: datetime
    age: timedelta
    total_minutes: int


def last_hour(conn: psycopg.Connection, camera_id: str, now: datetime | None = None) -> list[StoredMinute]:
    """Seed query 1: the camera's minutes of the last hour."""
    now = now or datetime.now(timezone.utc)
    return minutes_between(conn, camera_id, now - timedelta(hours=1), now + timedelta(microseconds=1))


def hour_of_day_minutes(
    conn: psycopg.Connection, camera_id: str, hour: int, days: int = 7, now: datetime | None = None
) -> list[StoredMinute]:
    """Seed query 3: the camera's minutes within UTC hour `hour` (0-23) on each of the last `days` days."""
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0-23, got {hour}")
    now = now or datetime.now(timezone.utc)
    rows = conn.execute(
        """
        SELECT camera_id, "timestamp", intensity_array, height, width, frame_count, total_intensity,
               downscale_factor
        FROM heatmap_minutes
        WHERE camera_id = %s
          AND EXTRACT(HOUR FROM "timestamp" AT TIME ZONE 'UTC') = %s
          AND "timestamp" >= %s
        ORDER BY "timestamp"
        """,
        (check_camera_id(camera_id), hour, now - timedelta(days=days)),
    ).fetchall()
    return [stored_minute(row) for row in rows]


def freshness(conn: psycopg.Connection, now: datetime | None = None) -> list[CameraFreshness]:
    """Seed query 4: per camera, the newest stored minute, its age and the number of minutes stored."""
    rows = conn.execute(
        """
        SELECT camera_id, max("timestamp") AS last_data, count(*) AS total_minutes
        FROM heatmap_minutes
        GROUP BY camera_id
        ORDER BY camera_id
        """
    ).fetchall()
    now = now or datetime.now(timezone.utc)
    return [CameraFreshness(camera, last, now - last, count) for camera, last, count in rows]


def table_size(conn: psycopg.Connection) -> tuple[int, int]:
    """(bytes on disk including TOAST and indexes, row count) of `heatmap_minutes`, its partitions summed."""
    return table_stats(conn).total_bytes, conn.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0]
