"""Every query Roz runs against `heatmap_minutes` (the schema itself lives in db/migrations/).

All statements are parameterized; times are timezone-aware and grouped in UTC whatever the session's TimeZone.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import psycopg

from roz_pipeline.core.codec import decode_intensity

CAMERA_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")


@dataclass(frozen=True)
class HeatmapMinute:
    """One `heatmap_minutes` row as written by the pipeline."""

    camera_id: str
    timestamp: datetime  # start of the minute, timezone-aware
    video_path: str
    height: int
    width: int
    downscale_factor: float
    intensity_array: bytes  # see roz_pipeline.core.codec
    frame_count: int
    total_intensity: float
    max_intensity: float
    nonzero_pixels: int


@dataclass(frozen=True)
class StoredMinute:
    """A stored minute's heatmap, decoded."""

    camera_id: str
    timestamp: datetime
    heatmap: np.ndarray
    frame_count: int
    total_intensity: float
    compressed_bytes: int  # size of the stored intensity_array


@dataclass(frozen=True)
class CameraFreshness:
    camera_id: str
    last_data: datetime
    age: timedelta
    total_minutes: int


def check_camera_id(camera_id: str) -> str:
    """`camera_id` if it is 1-50 characters of a-z 0-9 _ - starting with a letter or digit; else ValueError."""
    if not isinstance(camera_id, str) or not CAMERA_ID_PATTERN.fullmatch(camera_id):
        raise ValueError(
            f"invalid camera id {camera_id!r}: use 1-50 characters of a-z 0-9 _ -, starting with a letter or digit"
        )
    return camera_id


def write_minute(conn: psycopg.Connection, row: HeatmapMinute) -> None:
    """Insert the minute, or replace the stored one (and its `processed_at`) if it was processed before."""
    check_camera_id(row.camera_id)
    if row.timestamp.tzinfo is None or row.timestamp.second or row.timestamp.microsecond:
        raise ValueError(f"timestamp must be a timezone-aware start of minute, got {row.timestamp!r}")
    conn.execute(
        """
        INSERT INTO heatmap_minutes (
            camera_id, "timestamp", video_path, height, width, downscale_factor, intensity_array,
            frame_count, total_intensity, max_intensity, nonzero_pixels, processed_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
        ON CONFLICT (camera_id, "timestamp") DO UPDATE SET
            video_path = EXCLUDED.video_path,
            height = EXCLUDED.height,
            width = EXCLUDED.width,
            downscale_factor = EXCLUDED.downscale_factor,
            intensity_array = EXCLUDED.intensity_array,
            frame_count = EXCLUDED.frame_count,
            total_intensity = EXCLUDED.total_intensity,
            max_intensity = EXCLUDED.max_intensity,
            nonzero_pixels = EXCLUDED.nonzero_pixels,
            processed_at = now()
        """,
        (
            row.camera_id, row.timestamp, row.video_path, row.height, row.width, row.downscale_factor,
            row.intensity_array, row.frame_count, row.total_intensity, row.max_intensity, row.nonzero_pixels,
        ),
    )


def minutes_between(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> list[StoredMinute]:
    """The camera's decoded minutes with `start <= timestamp < end`, oldest first (seed query 1 for any period)."""
    rows = conn.execute(
        """
        SELECT camera_id, "timestamp", intensity_array, height, width, frame_count, total_intensity
        FROM heatmap_minutes
        WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s
        ORDER BY "timestamp"
        """,
        (check_camera_id(camera_id), start, end),
    ).fetchall()
    return [_stored_minute(row) for row in rows]


def last_hour(conn: psycopg.Connection, camera_id: str, now: datetime | None = None) -> list[StoredMinute]:
    """Seed query 1: the camera's minutes of the last hour."""
    now = now or datetime.now(timezone.utc)
    return minutes_between(conn, camera_id, now - timedelta(hours=1), now + timedelta(microseconds=1))


def busiest_hours(conn: psycopg.Connection, camera_id: str, day: date) -> list[tuple[datetime, float]]:
    """Seed query 2: the UTC hours of `day` by activity (sum of total_intensity), busiest first."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return conn.execute(
        """
        SELECT date_trunc('hour', "timestamp", 'UTC') AS hour, sum(total_intensity::DOUBLE PRECISION) AS activity
        FROM heatmap_minutes
        WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s
        GROUP BY hour
        ORDER BY activity DESC, hour
        """,
        (check_camera_id(camera_id), start, start + timedelta(days=1)),
    ).fetchall()


def hour_of_day_minutes(
    conn: psycopg.Connection, camera_id: str, hour: int, days: int = 7, now: datetime | None = None
) -> list[StoredMinute]:
    """Seed query 3: the camera's minutes within UTC hour `hour` (0-23) on each of the last `days` days."""
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0-23, got {hour}")
    now = now or datetime.now(timezone.utc)
    rows = conn.execute(
        """
        SELECT camera_id, "timestamp", intensity_array, height, width, frame_count, total_intensity
        FROM heatmap_minutes
        WHERE camera_id = %s
          AND EXTRACT(HOUR FROM "timestamp" AT TIME ZONE 'UTC') = %s
          AND "timestamp" >= %s
        ORDER BY "timestamp"
        """,
        (check_camera_id(camera_id), hour, now - timedelta(days=days)),
    ).fetchall()
    return [_stored_minute(row) for row in rows]


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
    """(bytes on disk including TOAST and indexes, row count) of `heatmap_minutes`."""
    return conn.execute(
        "SELECT pg_total_relation_size('heatmap_minutes'), count(*) FROM heatmap_minutes"
    ).fetchone()


def _stored_minute(row) -> StoredMinute:
    camera_id, timestamp, blob, height, width, frame_count, total_intensity = row
    return StoredMinute(camera_id, timestamp, decode_intensity(blob, height, width), frame_count, total_intensity,
                        len(blob))


def missing_minutes(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> list[datetime]:
    """The minutes `start <= minute < end` with no row for the camera (gaps in the recording)."""
    return [row[0] for row in conn.execute(
        """
        SELECT minute FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute',
                                           interval '1 minute') AS minute
        WHERE NOT EXISTS (SELECT 1 FROM heatmap_minutes h WHERE h.camera_id = %s AND h."timestamp" = minute)
        ORDER BY minute
        """,
        (start, end, check_camera_id(camera_id)),
    )]


def delete_expired(conn: psycopg.Connection, camera_id: str, retention_days: int, batch_size: int = 5000,
                   lock_timeout: str | None = None) -> int:
    """Delete the camera's rows older than `retention_days` (>= 1), committing every batch; returns rows deleted.

    Needs an autocommit connection (the procedure commits between batches). With `lock_timeout`, a batch gives up
    (and the call fails) rather than wait longer than that for a row a writer holds.
    """
    if lock_timeout:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
    return conn.execute(
        "CALL cleanup_old_heatmaps_in_batches(%s, %s, %s, NULL)",
        (retention_days, check_camera_id(camera_id), batch_size),
    ).fetchone()[0]


@dataclass(frozen=True)
class TableStats:
    total_bytes: int
    live_rows: int
    dead_rows: int


def table_stats(conn: psycopg.Connection) -> TableStats:
    """Size on disk (with TOAST and indexes) and live/dead tuple counts of `heatmap_minutes`."""
    row = conn.execute(
        """
        SELECT pg_total_relation_size('heatmap_minutes'), coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0)
        FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.oid = 'heatmap_minutes'::regclass
        """
    ).fetchone()
    return TableStats(*row)


def vacuum_analyze(conn: psycopg.Connection) -> None:
    """VACUUM (ANALYZE) heatmap_minutes; `conn` must be in autocommit mode. Statistics read after it are fresh.

    Raises PermissionError when the user does not own the table: PostgreSQL would skip it with a mere warning.
    """
    owner, may_vacuum = conn.execute(
        "SELECT pg_get_userbyid(relowner), pg_has_role(current_user, relowner, 'MEMBER') "
        "FROM pg_class WHERE oid = 'heatmap_minutes'::regclass"
    ).fetchone()
    if not may_vacuum:
        raise PermissionError(f"VACUUM of heatmap_minutes needs its owner ({owner}); connect as that role")
    conn.execute("VACUUM (ANALYZE) heatmap_minutes")
    conn.execute("SELECT pg_stat_clear_snapshot()")


def newest_minutes(conn: psycopg.Connection) -> dict[str, datetime]:
    """The newest stored minute of every camera (the freshness query without the counting)."""
    return dict(conn.execute('SELECT camera_id, max("timestamp") FROM heatmap_minutes GROUP BY camera_id').fetchall())


def first_minute_after(conn: psycopg.Connection, camera_id: str, after: datetime) -> datetime | None:
    """The camera's first stored minute after `after`."""
    return conn.execute(
        'SELECT min("timestamp") FROM heatmap_minutes WHERE camera_id = %s AND "timestamp" > %s',
        (check_camera_id(camera_id), after),
    ).fetchone()[0]
