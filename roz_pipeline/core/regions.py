"""Activity inside a rectangle of the picture, minute by minute, and the intervals in which it moved. No I/O.

A region is given in source pixels (x0, y0, x1, y1, x1/y1 exclusive), like `ignore` rectangles. On a minute's
heatmap it covers the heatmap pixels the rectangle touches at that minute's downscale factor; its activity is the
float64 sum of the heatmap over them. The same function computes stored series and the arrays read directly, so
both ways give identical numbers.
"""

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from roz_pipeline.core.motion import Rectangle
from roz_pipeline.core.timesteps import MINUTE


@dataclass(frozen=True)
class HeatmapBox:
    """Rows `top:bottom` and columns `left:right` of a heatmap."""

    top: int
    bottom: int
    left: int
    right: int


def check_region(region: Rectangle) -> Rectangle:
    """The rectangle, if it is one: 0 <= x0 < x1 and 0 <= y0 < y1 (source pixels)."""
    x0, y0, x1, y1 = region
    if x1 <= x0 or y1 <= y0 or min(x0, y0) < 0:
        raise ValueError(f"region {tuple(region)} must have 0 <= x0 < x1 and 0 <= y0 < y1 (source pixels)")
    return tuple(region)


def region_box(region: Rectangle, downscale_factor: float, height: int, width: int) -> HeatmapBox:
    """The heatmap pixels a source-pixel rectangle touches (clipped to the heatmap; empty when outside it)."""
    x0, y0, x1, y1 = check_region(region)
    top, bottom = min(int(y0 // downscale_factor), height), min(math.ceil(y1 / downscale_factor), height)
    left, right = min(int(x0 // downscale_factor), width), min(math.ceil(x1 / downscale_factor), width)
    return HeatmapBox(top, bottom, left, right)


def region_activity(heatmap: np.ndarray, box: HeatmapBox) -> float:
    """The heatmap's sum inside the box (float64, so the result does not depend on how it is reached)."""
    return float(heatmap[box.top:box.bottom, box.left:box.right].sum(dtype=np.float64))


@dataclass(frozen=True)
class MinuteActivity:
    minute: datetime
    activity: float
    downscale_factor: float


@dataclass(frozen=True)
class ActivityInterval:
    """Consecutive minutes with activity above the threshold: `start <= t < end`."""

    start: datetime
    end: datetime
    activity: float  # summed over the interval's minutes
    peak_minute: datetime
    peak_activity: float

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) / MINUTE)


def activity_intervals(series: list[MinuteActivity], min_activity: float = 0.0) -> list[ActivityInterval]:
    """The minutes whose activity exceeds `min_activity`, merged into intervals of consecutive minutes, in time
    order."""
    intervals: list[ActivityInterval] = []
    for point in sorted(series, key=lambda p: p.minute):
        if point.activity <= min_activity:
            continue
        last = intervals[-1] if intervals else None
        if last is not None and last.end == point.minute:
            peak = point if point.activity > last.peak_activity else None
            intervals[-1] = ActivityInterval(last.start, point.minute + MINUTE, last.activity + point.activity,
                                             peak.minute if peak else last.peak_minute,
                                             peak.activity if peak else last.peak_activity)
        else:
            intervals.append(ActivityInterval(point.minute, point.minute + MINUTE, point.activity, point.minute,
                                              point.activity))
    return intervals


def downscale_changes(series: list[MinuteActivity]) -> list[tuple[datetime, float, float]]:
    """(minute, factor before, factor from then on) wherever the series' downscale factor changes: activity
    before and after such a change is measured on different grids and is not comparable."""
    changes, previous = [], None
    for point in sorted(series, key=lambda p: p.minute):
        if previous is not None and point.downscale_factor != previous:
            changes.append((point.minute, previous, point.downscale_factor))
        previous = point.downscale_factor
    return changes
