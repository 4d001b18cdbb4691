"""Queries on `heatmap_rollups`: hourly and daily sums of the minute arrays (views heatmap_hourly/heatmap_daily)."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg

from roz_pipeline.core.codec import decode_intensity, encode_intensity
from roz_pipeline.core.statistics import statistics_of
from roz_pipeline.registry import check_camera_id

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
        return statistics_of(self.heatmap).total_intensity


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
    statistics = statistics_of(heatmap)
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
            statistics.total_intensity, statistics.max_intensity, statistics.nonzero_pixels,
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
        (check_camera_id(camera_id), _check_grain(grain), start, end, hour_of_day, hour_of_day), binary=True,
    ).fetchall()
    return [
        Rollup(camera, row_grain, period_start, decode_intensity(blob, height, width), downscale, minutes, frames)
        for camera, row_grain, period_start, blob, height, width, downscale, minutes, frames in rows
    ]


def rollup_versions(conn: psycopg.Connection, camera_id: str, grain: str, start: datetime,
                    end: datetime) -> list[tuple[datetime, datetime]]:
    """(period_start, computed_at) of the camera's hours or days with `start <= period_start < end`: which rows
    `rollups_between` would read and when each was written, without their arrays."""
    return conn.execute(
        "SELECT period_start, computed_at FROM heatmap_rollups WHERE camera_id = %s AND grain = %s "
        "AND period_start >= %s AND period_start < %s ORDER BY period_start",
        (check_camera_id(camera_id), _check_grain(grain), start, end)).fetchall()


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
    """Delete the camera's hours and days that ended more than `retention_days` (>= 1) ago; returns rows deleted.
    A day the cutoff falls inside is kept until all of it is past the cutoff."""
    return conn.execute(
        """
        DELETE FROM heatmap_rollups
        WHERE camera_id = %s
          AND period_start < heatmap_retention_cutoff(%s)
          AND period_start + CASE grain WHEN 'day' THEN interval '1 day' ELSE interval '1 hour' END
              <= heatmap_retention_cutoff(%s)
        """,
        (check_camera_id(camera_id), retention_days, retention_days),
    ).rowcount
