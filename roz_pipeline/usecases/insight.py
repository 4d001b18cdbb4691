"""Questions people ask of the stored heatmaps: a period's heatmap, the hour-of-day pattern, how two periods
differ, the activity timeline, and a CSV export. Whole UTC days and hours come from the rollups, the rest (and
periods not rolled up yet) from the minutes."""

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

import numpy as np
import psycopg

from roz_pipeline.core.aggregate import sum_heatmaps
from roz_pipeline.core.timesteps import HOUR, STEPS, ceil, floor, uncovered
from roz_pipeline.storage.minutes import minutes_between
from roz_pipeline.storage.rollups import RollupActivity, rollup_activity, rollups_between


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
    parts = _parts(conn, camera_id, start, end, ["day", "hour"])
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


def week_pattern(conn: psycopg.Connection, camera_id: str, end: datetime, weeks: int = 4) -> WeekPattern:
    """The camera's average minute per weekday and hour over the `weeks` weeks before `end` (whole hours, from
    the hour rollups): each cell is the summed activity of its hours divided by their stored minutes."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    end = floor(end, HOUR)
    start = end - timedelta(weeks=weeks)
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


def _parts(conn: psycopg.Connection, camera_id: str, start: datetime, end: datetime, grains: list[str]) -> list[_Part]:
    """The stored heatmaps that make up `start <= t < end`: rollups of the coarsest grain that fits, then finer."""
    if not grains:
        return [_Part(m.heatmap, 1, m.timestamp) for m in minutes_between(conn, camera_id, start, end)]
    step = STEPS[grains[0]]
    first = ceil(start, step)
    rolled = rollups_between(conn, camera_id, grains[0], first, max(first, floor(end, step)))
    parts = [_Part(r.heatmap, r.minutes_covered, r.period_start) for r in rolled]
    for gap_start, gap_end in uncovered(start, end, [r.period_start for r in rolled], step):
        parts += _parts(conn, camera_id, gap_start, gap_end, grains[1:])
    return parts


def _summed(camera_id: str, start: datetime, end: datetime, parts: list[_Part]) -> PeriodHeatmap:
    """The parts (minutes and hour rollups) of the most common heatmap size summed; the others counted as left out."""
    summed = sum_heatmaps(parts)
    minutes = sum(p.minutes for p in summed.included)
    return PeriodHeatmap(camera_id, start, end, summed.total, minutes=minutes,
                         left_out=sum(p.minutes for p in parts) - minutes,
                         first_minute=min(p.start for p in summed.included))
