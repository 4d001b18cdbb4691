"""Questions people ask of the stored heatmaps: a period's heatmap, the hour-of-day pattern, how two periods
differ, the activity timeline, and a CSV export. Whole UTC days and hours come from the rollups, the rest (and
periods not rolled up yet) from the minutes."""

import csv
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

import numpy as np
import psycopg

from roz_pipeline.core.aggregate import sum_heatmaps
from roz_pipeline.core.timesteps import HOUR, STEPS, ceil, floor, uncovered
from roz_pipeline.storage.minutes import minute_versions, minutes_between
from roz_pipeline.storage.rollups import RollupActivity, rollup_activity, rollup_versions, rollups_between

PERIOD_GRAINS = ["day", "hour"]  # a period's heatmap: whole days, then whole hours, then minutes


@dataclass(frozen=True)
class PeriodHeatmap:
    """A camera's heatmap summed over a period."""

    camera_id: str
    start: datetime
    end: datetime
    total: np.ndarray  # float32 sum: per pixel, frames in which it moved during the period
    minutes: int  # minutes summed
    left_out: int  # minutes stored at another heatmap size
    first_minute: datetime  # the earliest minute summed (for a still of the camera)

    @property
    def per_minute(self) -> np.ndarray:
        """The average minute of the period."""
        return self.total / self.minutes


@dataclass(frozen=True)
class Comparison:
    """How a period differs from a baseline period, per average minute."""

    baseline: PeriodHeatmap
    period: PeriodHeatmap
    difference: np.ndarray  # period.per_minute - baseline.per_minute
    rose_pixels: int  # pixels busier in the period
    fell_pixels: int  # pixels quieter in the period

    @property
    def activity_change(self) -> float | None:
        """Relative change of the average minute's total activity (+0.25: 25% more motion); None when the baseline
        had no motion and the period had some (no ratio to give)."""
        before = float(self.baseline.per_minute.sum(dtype=np.float64))
        after = float(self.period.per_minute.sum(dtype=np.float64))
        if not before:
            return None if after else 0.0
        return (after - before) / before


def period_heatmap(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> PeriodHeatmap:
    """The camera's heatmap summed over `start <= t < end`: whole UTC days from the day rollups, the rest's whole
    hours from the hour rollups, the rest from the minutes (90 days: ~90 arrays to add, not 130,000). Raises
    LookupError when nothing is stored there."""
    def stored(grain: str, first: datetime, last: datetime) -> list[tuple[datetime, _Part]]:
        if grain == "minute":
            return [(m.timestamp, _Part(m.heatmap, 1, m.timestamp))
                    for m in minutes_between(conn, camera_id, first, last)]
        return [(r.period_start, _Part(r.heatmap, r.minutes_covered, r.period_start))
                for r in rollups_between(conn, camera_id, grain, first, last)]

    parts = _cover(start, end, PERIOD_GRAINS, stored)
    if not parts:
        raise LookupError(f"camera {camera_id} has nothing stored between {start:%Y-%m-%d %H:%M} and "
                          f"{end:%Y-%m-%d %H:%M} UTC")
    return _summed(camera_id, start, end, parts)


def hour_of_day_pattern(conn: psycopg.Connection, camera_id: str, hour: int, days: int,
                        now: datetime) -> PeriodHeatmap:
    """The seed's query 3 from the hour rollups: the camera's UTC hour `hour` on the last `days` days summed
    (hours starting at or after `now - days`). Raises LookupError when none is stored."""
    start = now - timedelta(days=days)
    hours = rollups_between(conn, camera_id, "hour", start, now, hour_of_day=hour)
    if not hours:
        raise LookupError(f"camera {camera_id} has no hour rollup of {hour:02d}:00 UTC in the last {days} day(s)")
    return _summed(camera_id, start, now, [_Part(h.heatmap, h.minutes_covered, h.period_start) for h in hours])


def compare_periods(conn: psycopg.Connection, camera_id: str, baseline: tuple[datetime, datetime],
                    period: tuple[datetime, datetime]) -> Comparison:
    """Where the camera's average minute in `period` was busier or quieter than in `baseline`."""
    before = period_heatmap(conn, camera_id, *baseline)
    after = period_heatmap(conn, camera_id, *period)
    if before.total.shape != after.total.shape:
        raise ValueError(f"camera {camera_id}'s heatmaps are {before.total.shape} in the baseline and "
                         f"{after.total.shape} in the period (its downscale factor changed): not comparable")
    difference = after.per_minute - before.per_minute
    return Comparison(before, after, difference, int(np.count_nonzero(difference > 0)),
                      int(np.count_nonzero(difference < 0)))


def activity_timeline(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime,
                      grain: str = "hour") -> list[RollupActivity]:
    """The camera's rolled-up hours or days in `start <= t < end`: minutes covered and activity of each."""
    return rollup_activity(conn, [camera_id], grain, start, end)


@dataclass(frozen=True)
class WeekPattern:
    """Activity per minute by UTC weekday (rows, Monday first) and hour (columns), over `start <= t < end`."""

    camera_id: str
    start: datetime
    end: datetime
    per_minute: np.ndarray  # 7 x 24, NaN where no minute was stored
    minutes: np.ndarray  # 7 x 24 stored minutes behind each cell


def week_span(end: datetime, weeks: int = 4) -> tuple[datetime, datetime]:
    """The whole hours of the `weeks` weeks before `end`: what `week_pattern` reads."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    return floor(end, HOUR) - timedelta(weeks=weeks), floor(end, HOUR)


def week_pattern(conn: psycopg.Connection, camera_id: str, end: datetime, weeks: int = 4) -> WeekPattern:
    """The camera's average minute per weekday and hour over the `weeks` weeks before `end` (whole hours, from
    the hour rollups): each cell is the summed activity of its hours divided by their stored minutes."""
    start, end = week_span(end, weeks)
    activity, minutes = np.zeros((7, 24)), np.zeros((7, 24), np.int64)
    for hour in rollup_activity(conn, [camera_id], "hour", start, end):
        cell = hour.period_start.weekday(), hour.period_start.hour
        activity[cell] += hour.total_intensity
        minutes[cell] += hour.minutes_covered
    with np.errstate(invalid="ignore", divide="ignore"):
        per_minute = np.where(minutes > 0, activity / minutes, np.nan)
    return WeekPattern(camera_id, start, end, per_minute, minutes)


CSV_COLUMNS = ["camera_id", "hour_utc", "minutes_covered", "frame_count", "total_intensity",
               "activity_per_minute", "max_intensity", "nonzero_pixels"]


def write_hourly_csv(conn: psycopg.Connection, camera_ids: Iterable[str], start: datetime, end: datetime,
                     out: TextIO) -> int:
    """Activity per camera per rolled-up hour in `start <= t < end` as CSV; returns the rows written."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    rows = rollup_activity(conn, list(camera_ids), "hour", start, end)
    for row in rows:
        writer.writerow([
            row.camera_id, row.period_start.strftime("%Y-%m-%dT%H:%M:%SZ"), row.minutes_covered, row.frame_count,
            f"{row.total_intensity:.1f}", f"{row.total_intensity / row.minutes_covered:.1f}",
            f"{row.max_intensity:.1f}", row.nonzero_pixels,
        ])
    return len(rows)


@dataclass(frozen=True)
class _Part:
    heatmap: np.ndarray
    minutes: int
    start: datetime


def _cover(start: datetime, end: datetime, grains: list[str],
           stored: Callable[[str, datetime, datetime], list]) -> list:
    """What makes up `start <= t < end`: `stored(grain, first, last)` ((period start, item) pairs) of the coarsest
    of `grains` whose whole periods fit, then of finer grains where it has none, then of "minute"."""
    if not grains:
        return [item for _, item in stored("minute", start, end)]
    step = STEPS[grains[0]]
    first = ceil(start, step)
    found = stored(grains[0], first, max(first, floor(end, step)))
    parts = [item for _, item in found]
    for gap_start, gap_end in uncovered(start, end, [period_start for period_start, _ in found], step):
        parts += _cover(gap_start, gap_end, grains[1:], stored)
    return parts


def period_inputs(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime) -> str:
    """A digest of the rows `period_heatmap` reads for `start <= t < end` and when each was written: while it stays
    the same, so does the period's heatmap (the explorer caches pictures by it)."""
    def stored(grain: str, first: datetime, last: datetime) -> list[tuple[datetime, tuple]]:
        versions = (minute_versions(conn, camera_id, first, last) if grain == "minute"
                    else rollup_versions(conn, camera_id, grain, first, last))
        return [(at, (grain, at, written)) for at, written in versions]

    return digest(_cover(start, end, PERIOD_GRAINS, stored))


def rollup_inputs(conn: psycopg.Connection, camera_id: str, grain: str, start: datetime, end: datetime) -> str:
    """A digest of the camera's hours or days in `start <= period_start < end` and when each was written (what
    the activity bars and the weekday x hour pattern read)."""
    return digest(rollup_versions(conn, camera_id, grain, start, end))


def digest(versions: list) -> str:
    return hashlib.sha256(repr(versions).encode()).hexdigest()[:32]


def _summed(camera_id: str, start: datetime, end: datetime, parts: list[_Part]) -> PeriodHeatmap:
    """The parts (minutes and hour rollups) of the most common heatmap size summed; the others counted as left out."""
    summed = sum_heatmaps(parts)
    minutes = sum(p.minutes for p in summed.included)
    return PeriodHeatmap(camera_id, start, end, summed.total, minutes=minutes,
                         left_out=sum(p.minutes for p in parts) - minutes,
                         first_minute=min(p.start for p in summed.included))
