"""Queries on `heatmap_minutes`, the seed's table of one row per camera-minute (schema: db/migrations/).

All statements are parameterized; times are timezone-aware and grouped in UTC whatever the session's TimeZone.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from roz_pipeline.core.cells import Cells
from roz_pipeline.core.codec import decode_intensity, encode_intensity
from roz_pipeline.core.statistics import statistics_of
from roz_pipeline.registry import check_camera_id
from roz_pipeline.storage.cells import write_cells
from roz_pipeline.storage.partitions import MINUTE_TABLES, ensure_day_partitions
from roz_pipeline.storage.regions import write_region_activities


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

    @classmethod
    def of(cls, camera_id: str, timestamp: datetime, video_path: str, heatmap: np.ndarray, downscale_factor: float,
           frame_count: int) -> "HeatmapMinute":
        """The row of a minute's float32 heatmap, with its statistics."""
        statistics = statistics_of(heatmap)
        return cls(camera_id, timestamp, video_path, heatmap.shape[0], heatmap.shape[1], float(downscale_factor),
                   encode_intensity(heatmap), frame_count, statistics.total_intensity, statistics.max_intensity,
                   statistics.nonzero_pixels)


@dataclass(frozen=True)
class MinuteSources:
    """One `heatmap_minute_sources` row: what a stored minute was built from."""

    camera_id: str
    timestamp: datetime
    clip_keys: list[str]  # in recording order; the first holds the minute's first frame
    covered_seconds: float  # seconds of footage in the minute, 60 when fully recorded
    problem_clips: dict[str, str]  # key -> what went wrong with it (damaged, unreadable, overlapping)
    inputs_fingerprint: str
    listed_at: datetime  # when the clip store was listed for this computation


@dataclass(frozen=True)
class MinuteCoverage:
    """A minute of a window with less than a full minute of footage: none (`covered_seconds` 0) or part of it."""

    minute: datetime
    covered_seconds: float


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


def write_minute(conn: psycopg.Connection, row: HeatmapMinute, sources: MinuteSources | None = None,
                 region_activity: dict[str, float] | None = None, cells: Cells | None = None) -> bool:
    """Insert the minute, or replace the stored one (and its `processed_at`) if it was processed before; with
    `sources`, what it was built from, with `region_activity`, its named regions' activity, and with `cells`, its
    cells, in the same transaction, unless the stored minute was computed from a newer listing of the clip store
    (then nothing changes and the result is False)."""
    check_camera_id(row.camera_id)
    if row.timestamp.tzinfo is None or row.timestamp.second or row.timestamp.microsecond:
        raise ValueError(f"timestamp must be a timezone-aware start of minute, got {row.timestamp!r}")
    with conn.transaction():
        ensure_day_partitions(conn, [row.timestamp.astimezone(timezone.utc).date()], MINUTE_TABLES)
        if sources is not None and conn.execute(
            """
            INSERT INTO heatmap_minute_sources AS stored (
                camera_id, "timestamp", clip_keys, covered_seconds, problem_clips, inputs_fingerprint, listed_at,
                computed_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, now())
            ON CONFLICT (camera_id, "timestamp") DO UPDATE SET
                clip_keys = EXCLUDED.clip_keys,
                covered_seconds = EXCLUDED.covered_seconds,
                problem_clips = EXCLUDED.problem_clips,
                inputs_fingerprint = EXCLUDED.inputs_fingerprint,
                listed_at = EXCLUDED.listed_at,
                computed_at = now()
            WHERE stored.listed_at <= EXCLUDED.listed_at
            RETURNING 1
            """,
            (row.camera_id, row.timestamp, sources.clip_keys, sources.covered_seconds, Jsonb(sources.problem_clips),
             sources.inputs_fingerprint, sources.listed_at),
        ).fetchone() is None:
            return False  # the stored minute is newer; the transaction ends with nothing changed
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
        if region_activity:
            write_region_activities(conn, row.camera_id,
                                    [(region, row.timestamp, value) for region, value in region_activity.items()])
        if cells is not None:
            write_cells(conn, row.camera_id, row.timestamp, row.downscale_factor, cells)
    return True


@dataclass(frozen=True)
class BuiltMinute:
    """A stored minute with what it was built from: how a following run picks up what a run before it wrote."""

    row: StoredMinute
    sources: MinuteSources
    video_path: str
    nonzero_pixels: int


def built_minutes(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> list[BuiltMinute]:
    """The camera's minutes with `start <= timestamp < end` that have their sources recorded, oldest first."""
    rows = conn.execute(
        """
        SELECT h.camera_id, h."timestamp", h.intensity_array, h.height, h.width, h.frame_count, h.total_intensity,
               h.downscale_factor, s.clip_keys, s.covered_seconds, s.problem_clips, s.inputs_fingerprint,
               s.listed_at, h.video_path, h.nonzero_pixels
        FROM heatmap_minutes h
        JOIN heatmap_minute_sources s ON s.camera_id = h.camera_id AND s."timestamp" = h."timestamp"
        WHERE h.camera_id = %s AND h."timestamp" >= %s AND h."timestamp" < %s
        ORDER BY h."timestamp"
        """,
        (check_camera_id(camera_id), start, end),
    ).fetchall()
    return [BuiltMinute(stored_minute(row[:8]), MinuteSources(row[0], row[1], *row[8:13]), row[13], row[14])
            for row in rows]


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
        (check_camera_id(camera_id), start, end), binary=True,  # arrays as bytes, not hex text to parse
    ).fetchall()
    return [stored_minute(row) for row in rows]


def minute_versions(conn: psycopg.Connection, camera_id: str, start: datetime,
                    end: datetime) -> list[tuple[datetime, datetime]]:
    """(timestamp, processed_at) of the camera's minutes in `start <= t < end`: which rows `minutes_between` would
    read and when each was written, without their arrays."""
    return conn.execute(
        'SELECT "timestamp", processed_at FROM heatmap_minutes WHERE camera_id = %s AND "timestamp" >= %s '
        'AND "timestamp" < %s ORDER BY "timestamp"',
        (check_camera_id(camera_id), start, end)).fetchall()


def uncovered_minutes(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime,
                      full_minute_seconds: float) -> list[MinuteCoverage]:
    """The minutes `start <= minute < end` with less than `full_minute_seconds` of footage: no row (0 seconds), or a
    row whose sources cover less. Rows written before sources were recorded count as full."""
    return [MinuteCoverage(minute, covered) for minute, covered in conn.execute(
        """
        SELECT minute, CASE WHEN h.camera_id IS NULL THEN 0 ELSE s.covered_seconds END
        FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', interval '1 minute') AS minute
        LEFT JOIN heatmap_minutes h ON h.camera_id = %s AND h."timestamp" = minute
        LEFT JOIN heatmap_minute_sources s ON s.camera_id = h.camera_id AND s."timestamp" = h."timestamp"
        WHERE h.camera_id IS NULL OR s.covered_seconds < %s
        ORDER BY minute
        """,
        (start, end, check_camera_id(camera_id), full_minute_seconds),
    ).fetchall()]


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


def quiet_history(conn: psycopg.Connection, camera_id: str, start: datetime,
                  end: datetime) -> tuple[datetime | None, timedelta | None]:
    """The camera's first stored minute within `start <= t < end`, and the longest time between two consecutive
    ones (None with fewer than two): how long a motion-only camera has stayed quiet before, and over how much
    history. One walk of the camera's index range."""
    return conn.execute(
        """
        SELECT min("timestamp"), max(gap) FROM (
            SELECT "timestamp", "timestamp" - lag("timestamp") OVER (ORDER BY "timestamp") - interval '1 minute' AS gap
            FROM heatmap_minutes WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s) AS gaps
        """,
        (check_camera_id(camera_id), start, end),
    ).fetchone()


def downscale_changes_between(conn: psycopg.Connection, camera_id: str, start: datetime,
                              end: datetime) -> list[tuple[datetime, float, float]]:
    """`core.regions.downscale_changes` of the camera's stored minutes in `start <= t < end`, found by PostgreSQL."""
    return conn.execute(
        """
        SELECT "timestamp", before, downscale_factor FROM (
            SELECT "timestamp", downscale_factor, lag(downscale_factor) OVER (ORDER BY "timestamp") AS before
            FROM heatmap_minutes WHERE camera_id = %s AND "timestamp" >= %s AND "timestamp" < %s
        ) factors
        WHERE before <> downscale_factor ORDER BY "timestamp"
        """,
        (check_camera_id(camera_id), start, end)).fetchall()


def source_size(conn: psycopg.Connection, camera_id: str) -> tuple[int, int, float] | None:
    """(width, height) in source pixels of the camera's newest stored minute (its heatmap times its factor), and
    its downscale factor."""
    row = conn.execute(
        """
        SELECT width * downscale_factor, height * downscale_factor, downscale_factor FROM heatmap_minutes
        WHERE camera_id = %s ORDER BY "timestamp" DESC LIMIT 1
        """,
        (check_camera_id(camera_id),),
    ).fetchone()
    return None if row is None else (round(row[0]), round(row[1]), row[2])


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


def stored_minute(row) -> StoredMinute:
    camera_id, timestamp, blob, height, width, frame_count, total_intensity, downscale_factor = row
    return StoredMinute(camera_id, timestamp, decode_intensity(blob, height, width), frame_count, total_intensity,
                        len(blob), downscale_factor)
