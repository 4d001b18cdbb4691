"""Hourly and daily rollups: a camera's minute arrays summed per UTC hour, its hour rollups summed per UTC day.

A rollup is recomputed from its sources whenever they change, except when its period starts before the sources'
retention cutoff: the nightly retention may already have deleted some of them, and a recomputation would then
silently shrink the rollup. Such rollups are kept as they are.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import psycopg

from roz_pipeline.core.aggregate import sum_heatmaps
from roz_pipeline.core.timesteps import STEPS
from roz_pipeline.storage.minutes import minutes_between
from roz_pipeline.storage.rollups import Rollup, delete_rollup, rollups_between, write_rollup


@dataclass(frozen=True)
class RollupOutcome:
    period_start: datetime
    status: str  # "written"; "empty": no source, any stored rollup removed; "kept": sources may be past retention
    rollup: Rollup | None  # the rollup written
    left_out: int = 0  # sources at another heatmap size (the camera's downscale factor or resolution changed)


@dataclass(frozen=True)
class _Source:
    """A minute or an hour rollup going into a rollup."""

    heatmap: np.ndarray
    minutes: int
    frames: int
    downscale_factor: float


def roll_up_hour(conn: psycopg.Connection, camera_id: str, hour: datetime,
                 minutes_kept_since: datetime) -> RollupOutcome:
    """Sum the camera's stored minutes of `hour` into its hour rollup (see the module docstring for "kept")."""
    _check_start(hour, "hour")
    if hour < minutes_kept_since:
        return RollupOutcome(hour, "kept", None)
    minutes = minutes_between(conn, camera_id, hour, hour + STEPS["hour"])
    return _store(conn, camera_id, "hour", hour,
                  [_Source(m.heatmap, 1, m.frame_count, m.downscale_factor) for m in minutes])


def roll_up_day(conn: psycopg.Connection, camera_id: str, day: datetime, hours_kept_since: datetime) -> RollupOutcome:
    """Sum the camera's hour rollups of `day` into its day rollup."""
    _check_start(day, "day")
    if day < hours_kept_since:
        return RollupOutcome(day, "kept", None)
    hours = rollups_between(conn, camera_id, "hour", day, day + STEPS["day"])
    return _store(conn, camera_id, "day", day,
                  [_Source(h.heatmap, h.minutes_covered, h.frame_count, h.downscale_factor) for h in hours])


def _store(conn, camera_id: str, grain: str, start: datetime, sources: list[_Source]) -> RollupOutcome:
    with conn.transaction():
        if not sources:
            delete_rollup(conn, camera_id, grain, start)
            return RollupOutcome(start, "empty", None)
        summed = sum_heatmaps(sources)
        rollup = Rollup(
            camera_id=camera_id, grain=grain, period_start=start, heatmap=summed.total,
            downscale_factor=summed.included[-1].downscale_factor,
            minutes_covered=sum(source.minutes for source in summed.included),
            frame_count=sum(source.frames for source in summed.included),
        )
        write_rollup(conn, rollup)
    return RollupOutcome(start, "written", rollup, summed.left_out)


def _check_start(start: datetime, grain: str) -> None:
    aligned = start.tzinfo is not None and start.utcoffset() == timedelta(0) and not (
        start.minute or start.second or start.microsecond or (grain == "day" and start.hour))
    if not aligned:
        raise ValueError(f"a {grain} rollup starts at a UTC {grain} boundary, got {start!r}")
