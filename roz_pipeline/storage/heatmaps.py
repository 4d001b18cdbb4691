"""Every query Roz runs against `heatmap_minutes` and `heatmap_rollups` (the schema lives in db/migrations/).

All statements are parameterized; times are timezone-aware and grouped in UTC whatever the session's TimeZone.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import psycopg

from roz_pipeline.core.codec import decode_intensity, encode_intensity

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
    downscale_factor: float


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
        SELECT camera_id, "timestamp", intensity_array, height, width, frame_count, total_intensity,
               downscale_factor
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
    camera_id, timestamp, blob, height, width, frame_count, total_intensity, downscale_factor = row
    return StoredMinute(camera_id, timestamp, decode_intensity(blob, height, width), frame_count, total_intensity,
                        len(blob), downscale_factor)


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
    """VACUUM (ANALYZE) the heatmap tables; `conn` must be in autocommit mode. Statistics read after it are fresh.

    Raises PermissionError when the user does not own them: PostgreSQL would skip a table with a mere warning.
    """
    not_owned = conn.execute(
        """
        SELECT string_agg(relname || ' (owner ' || pg_get_userbyid(relowner) || ')', ', ')
        FROM pg_class
        WHERE oid IN ('heatmap_minutes'::regclass, 'heatmap_rollups'::regclass)
          AND NOT pg_has_role(current_user, relowner, 'MEMBER')
        """
    ).fetchone()[0]
    if not_owned:
        raise PermissionError(f"VACUUM needs the tables' owner: {not_owned}; connect as that role")
    conn.execute("VACUUM (ANALYZE) heatmap_minutes, heatmap_rollups")
    conn.execute("SELECT pg_stat_clear_snapshot()")


def newest_minutes(conn: psycopg.Connection, camera_ids: list[str]) -> dict[str, datetime]:
    """The newest stored minute of each of these cameras that has any.

    One backward step on the (camera_id, timestamp) index per camera: microseconds whatever the table's size,
    where the seed's freshness query (GROUP BY over every row) grows with it (docs/PERFORMANCE.md).
    """
    rows = conn.execute(
        """
        SELECT camera.id, (SELECT max("timestamp") FROM heatmap_minutes h WHERE h.camera_id = camera.id)
        FROM unnest(%s::varchar[]) AS camera(id)
        """,
        ([check_camera_id(c) for c in camera_ids],),
    ).fetchall()
    return {camera_id: newest for camera_id, newest in rows if newest is not None}


def first_minute_after(conn: psycopg.Connection, camera_id: str, after: datetime) -> datetime | None:
    """The camera's first stored minute after `after`."""
    return conn.execute(
        'SELECT min("timestamp") FROM heatmap_minutes WHERE camera_id = %s AND "timestamp" > %s',
        (check_camera_id(camera_id), after),
    ).fetchone()[0]


# -- rollups: hourly and daily sums of the minute arrays -------------------------------------------------------

ROLLUP_GRAINS = ("hour", "day")


@dataclass(frozen=True)
class Rollup:
    """An hour's or a day's heatmap: the sum of its minutes' arrays."""

    camera_id: str
    grain: str  # "hour" or "day"
    period_start: datetime  # start of the UTC hour or day
    heatmap: np.ndarray
    downscale_factor: float
    minutes_covered: int
    frame_count: int

    @property
    def total_intensity(self) -> float:
        return float(self.heatmap.sum(dtype=np.float64))


@dataclass(frozen=True)
class RollupActivity:
    """A rollup row's numbers, without its array."""

    camera_id: str
    period_start: datetime
    minutes_covered: int
    frame_count: int
    total_intensity: float
    max_intensity: float
    nonzero_pixels: int


def _check_grain(grain: str) -> str:
    if grain not in ROLLUP_GRAINS:
        raise ValueError(f"rollup grain must be one of {ROLLUP_GRAINS}, got {grain!r}")
    return grain


def write_rollup(conn: psycopg.Connection, rollup: Rollup) -> None:
    """Insert the hour or day, or replace the stored one."""
    check_camera_id(rollup.camera_id)
    _check_grain(rollup.grain)
    if rollup.period_start.tzinfo is None:
        raise ValueError(f"period_start must be timezone-aware, got {rollup.period_start!r}")
    heatmap = rollup.heatmap.astype(np.float32, copy=False)
    conn.execute(
        """
        INSERT INTO heatmap_rollups (
            camera_id, grain, period_start, height, width, downscale_factor, intensity_array, minutes_covered,
            frame_count, total_intensity, max_intensity, nonzero_pixels, computed_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
        ON CONFLICT (camera_id, grain, period_start) DO UPDATE SET
            height = EXCLUDED.height,
            width = EXCLUDED.width,
            downscale_factor = EXCLUDED.downscale_factor,
            intensity_array = EXCLUDED.intensity_array,
            minutes_covered = EXCLUDED.minutes_covered,
            frame_count = EXCLUDED.frame_count,
            total_intensity = EXCLUDED.total_intensity,
            max_intensity = EXCLUDED.max_intensity,
            nonzero_pixels = EXCLUDED.nonzero_pixels,
            computed_at = now()
        """,
        (
            rollup.camera_id, rollup.grain, rollup.period_start, heatmap.shape[0], heatmap.shape[1],
            rollup.downscale_factor, encode_intensity(heatmap), rollup.minutes_covered, rollup.frame_count,
            rollup.total_intensity, float(heatmap.max()), int(np.count_nonzero(heatmap)),
        ),
    )


def delete_rollup(conn: psycopg.Connection, camera_id: str, grain: str, period_start: datetime) -> None:
    """Remove a stored hour or day (its minutes are gone, so it would no longer match them)."""
    conn.execute(
        "DELETE FROM heatmap_rollups WHERE camera_id = %s AND grain = %s AND period_start = %s",
        (check_camera_id(camera_id), _check_grain(grain), period_start),
    )


def rollups_between(conn: psycopg.Connection, camera_id: str, grain: str, start: datetime, end: datetime,
                    hour_of_day: int | None = None) -> list[Rollup]:
    """The camera's decoded hours or days with `start <= period_start < end`, oldest first.

    With `hour_of_day` (0-23, UTC), only the hours starting at that hour of the day.
    """
    if hour_of_day is not None and not 0 <= hour_of_day <= 23:
        raise ValueError(f"hour must be 0-23, got {hour_of_day}")
    rows = conn.execute(
        """
        SELECT camera_id, grain, period_start, intensity_array, height, width, downscale_factor, minutes_covered,
               frame_count
        FROM heatmap_rollups
        WHERE camera_id = %s AND grain = %s AND period_start >= %s AND period_start < %s
          AND (%s::int IS NULL OR EXTRACT(HOUR FROM period_start AT TIME ZONE 'UTC') = %s::int)
        ORDER BY period_start
        """,
        (check_camera_id(camera_id), _check_grain(grain), start, end, hour_of_day, hour_of_day),
    ).fetchall()
    return [
        Rollup(camera, row_grain, period_start, decode_intensity(blob, height, width), downscale, minutes, frames)
        for camera, row_grain, period_start, blob, height, width, downscale, minutes, frames in rows
    ]


def rollup_activity(conn: psycopg.Connection, camera_ids: list[str], grain: str, start: datetime,
                    end: datetime) -> list[RollupActivity]:
    """The numbers of the cameras' hours or days with `start <= period_start < end`, by camera, then time."""
    rows = conn.execute(
        """
        SELECT camera_id, period_start, minutes_covered, frame_count, total_intensity, max_intensity, nonzero_pixels
        FROM heatmap_rollups
        WHERE camera_id = ANY(%s) AND grain = %s AND period_start >= %s AND period_start < %s
        ORDER BY camera_id, period_start
        """,
        ([check_camera_id(c) for c in camera_ids], _check_grain(grain), start, end),
    ).fetchall()
    return [RollupActivity(*row) for row in rows]


def delete_expired_rollups(conn: psycopg.Connection, camera_id: str, retention_days: int) -> int:
    """Delete the camera's hours and days that started more than `retention_days` (>= 1) ago; returns rows deleted."""
    return conn.execute(
        "DELETE FROM heatmap_rollups WHERE camera_id = %s AND period_start < heatmap_retention_cutoff(%s)",
        (check_camera_id(camera_id), retention_days),
    ).rowcount
