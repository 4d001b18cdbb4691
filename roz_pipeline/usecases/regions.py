"""Where and when: the minutes in which something moved inside a region, and keeping the series of each camera's
named regions (cameras.yaml `regions`) complete so that the question reads one number per minute.

A question about a named region whose series is complete reads `heatmap_region_minutes`; any other rectangle (or a
series still being built) reads the minute arrays. Both compute `core.regions.region_activity`: the same answer.
"""

import csv
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TextIO

import psycopg

from roz_pipeline.clips.layout import ClipLayout, LayoutError
from roz_pipeline.core.cells import cells_activity, cells_of
from roz_pipeline.core.codec import decode_intensity
from roz_pipeline.core.motion import Rectangle
from roz_pipeline.core.regions import (
    ActivityInterval,
    MinuteActivity,
    activity_intervals,
    check_region,
    downscale_changes,
    region_activity,
    region_box,
)
from roz_pipeline.core.timesteps import MINUTE, STEPS, floor
from roz_pipeline.registry import Camera
from roz_pipeline.storage.cells import cell_grids, cell_rows, minutes_without_cells
from roz_pipeline.storage.minutes import downscale_changes_between, source_size
from roz_pipeline.storage.regions import (
    StoredArray,
    define_region,
    delete_region,
    minute_clip_keys,
    region_intervals,
    region_series,
    stored_arrays,
    stored_regions,
    write_region_activities,
)

ALL_TIME = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9999, 1, 1, tzinfo=timezone.utc))
REBUILD_BATCH = 500  # region values written per transaction when series are (re)built


@dataclass
class RegionAnswer:
    camera_id: str
    region: str  # its name, or "x0,y0,x1,y1"
    rectangle: Rectangle
    intervals: list[ActivityInterval]
    downscale_changes: list[tuple[datetime, float, float]]
    from_series: bool  # read from the stored series (else from the minutes' cells or arrays)
    minutes_with_data: int = 0
    from_cells: int = 0  # minutes read from their cells (core/cells.py), the others from their arrays
    notes: list[str] = field(default_factory=list)

    @property
    def read_from(self) -> str:
        if self.from_series:
            return "the region series"
        if not self.from_cells:
            return "the minute arrays"
        if self.from_cells == self.minutes_with_data:
            return "the minute cells"
        return f"the cells of {self.from_cells} minutes and the arrays of {self.minutes_with_data - self.from_cells}"


@dataclass(frozen=True)
class ClipOpening:
    """Where to watch an interval: the clip holding its first minute, and how far into it the interval starts."""

    clip: str  # its key in the store
    offset_seconds: float | None  # None when the clip's name says no start under the layout


def opening(clips: list[str], interval: ActivityInterval, layout: ClipLayout) -> ClipOpening | None:
    """The clip to open for `interval`, from the `clips` its first minute was built from (None when none is
    recorded)."""
    if not clips:
        return None
    try:
        offset = max(0.0, (interval.start - layout.parse(clips[0]).start).total_seconds())
    except LayoutError:
        offset = None
    return ClipOpening(clips[0], offset)


@dataclass(frozen=True)
class AnsweredInterval:
    interval: ActivityInterval
    clips: list[str]  # the keys of the clips its first minute was built from
    to_open: ClipOpening | None


def region_question(conn: psycopg.Connection, camera: Camera, region: str, start: datetime, end: datetime,
                    layout: ClipLayout, min_activity: float = 0.0, sort: str = "busiest",
                    limit: int | None = None) -> tuple[RegionAnswer, list[AnsweredInterval]]:
    """`roz when`: the answer, and each interval (busiest first, or in time order; the first `limit`) with the
    clip to open."""
    answer = when(conn, camera, region, start, end, min_activity)
    intervals = sorted(answer.intervals, key=lambda i: -i.activity) if sort == "busiest" else answer.intervals
    listed = intervals[:limit]
    clips = minute_clip_keys(conn, camera.camera_id, [interval.start for interval in listed])
    return answer, [AnsweredInterval(interval, clips.get(interval.start, []),
                                     opening(clips.get(interval.start, []), interval, layout))
                    for interval in listed]


def answer_document(answer: RegionAnswer, answered: list[AnsweredInterval], start: datetime, end: datetime,
                    min_activity: float) -> dict:
    """The answer as JSON (`roz when --json`, the explorer's `when`)."""
    return {
        "camera": answer.camera_id, "region": answer.region, "rectangle": list(answer.rectangle),
        "from": start.isoformat(), "to": end.isoformat(), "min_activity": min_activity,
        "stored_minutes": answer.minutes_with_data, "interval_count": len(answer.intervals),
        "read_from": answer.read_from, "notes": answer.notes,
        "downscale_changes": [{"at": at.isoformat(), "from": before, "to": after}
                              for at, before, after in answer.downscale_changes],
        "intervals": [{"start": i.start.isoformat(), "end": i.end.isoformat(), "minutes": i.minutes,
                       "activity": i.activity, "peak_minute": i.peak_minute.isoformat(),
                       "peak_activity": i.peak_activity, "clips": found.clips,
                       "open": dataclasses.asdict(found.to_open) if found.to_open else None}
                      for found in answered for i in [found.interval]]}


def resolve_region(camera: Camera, region: str) -> tuple[str, Rectangle]:
    """A region argument, a name from the camera's `regions` or `x0,y0,x1,y1` in source pixels: (label,
    rectangle)."""
    if region in camera.regions:
        return region, tuple(camera.regions[region])
    try:
        rectangle = tuple(int(part) for part in region.split(","))
    except ValueError:
        rectangle = ()
    if len(rectangle) == 4:
        return region, check_region(rectangle)
    names = ", ".join(sorted(camera.regions)) or "none"
    raise ValueError(f"region {region!r} is neither X0,Y0,X1,Y1 (source pixels) nor a named region of camera "
                     f"{camera.camera_id} (named: {names})")


def activity_from_arrays(conn: psycopg.Connection, camera_id: str, rectangle: Rectangle, start: datetime,
                         end: datetime, only: set[datetime] | None = None) -> list[MinuteActivity]:
    """The region's activity in every stored minute of `start <= t < end` (or those `only`), each array decoded."""
    return [MinuteActivity(stored.minute, activity["region"], stored.downscale_factor)
            for stored, activity in _minute_activities(conn, camera_id, {"region": rectangle}, start, end)
            if only is None or stored.minute in only]


def rectangle_activity(conn: psycopg.Connection, camera_id: str, rectangle: Rectangle, start: datetime,
                       end: datetime) -> tuple[list[MinuteActivity], int]:
    """(the rectangle's activity in every stored minute of `start <= t < end`, oldest first; how many minutes were
    read from their cells): from a minute's cells when the rectangle lies on their grid, else from its array."""
    off_grid = set(minutes_without_cells(conn, camera_id, start, end))
    series = []
    for grid in cell_grids(conn, camera_id, start, end):
        cells = cells_of(region_box(rectangle, grid.downscale_factor, grid.height, grid.width), grid.height,
                         grid.width, grid.cell_pixels)
        if cells is None:  # the rectangle cuts through this grid's cells: its minutes (no cell rows) from the arrays
            off_grid.update(cell_rows(conn, camera_id, start, end, grid, 0, 0)[0])
            continue
        top, bottom, left, right = cells
        minutes, rows = cell_rows(conn, camera_id, start, end, grid, top, bottom)
        activities = cells_activity(rows, left, right)
        series += [MinuteActivity(m, a, grid.downscale_factor) for m, a in zip(minutes, activities.tolist())]
    if off_grid:
        series += activity_from_arrays(conn, camera_id, rectangle, min(off_grid), max(off_grid) + MINUTE, off_grid)
    return sorted(series, key=lambda point: point.minute), len(series) - len(off_grid)


def _minute_activities(conn: psycopg.Connection, camera_id: str, rectangles: dict[str, Rectangle], start: datetime,
                       end: datetime) -> Iterator[tuple[StoredArray, dict[str, float]]]:
    """Every stored minute of `start <= t < end`, its array decoded once, with each rectangle's activity in it."""
    for stored in stored_arrays(conn, camera_id, start, end):
        heatmap = decode_intensity(stored.intensity_array, stored.height, stored.width)
        yield stored, {name: region_activity(heatmap, region_box(rectangle, stored.downscale_factor, stored.height,
                                                                 stored.width))
                       for name, rectangle in rectangles.items()}


def _series_serves(conn: psycopg.Connection, camera_id: str, label: str, rectangle: Rectangle) -> bool:
    """Whether the camera has a complete series computed for this region's rectangle."""
    stored = stored_regions(conn, camera_id).get(label)
    return stored is not None and stored.serves(rectangle)


def region_minutes(conn: psycopg.Connection, camera: Camera, label: str, rectangle: Rectangle, start: datetime,
                   end: datetime) -> tuple[list[MinuteActivity], bool, int]:
    """(the region's activity per stored minute, whether it came from the stored series, how many minutes came from
    their cells)."""
    if _series_serves(conn, camera.camera_id, label, rectangle):
        return region_series(conn, camera.camera_id, label, start, end), True, 0
    series, from_cells = rectangle_activity(conn, camera.camera_id, rectangle, start, end)
    return series, False, from_cells


def when(conn: psycopg.Connection, camera: Camera, region: str, start: datetime, end: datetime,
         min_activity: float = 0.0) -> RegionAnswer:
    """The intervals of consecutive minutes in `start <= t < end` whose activity inside `region` exceeds
    `min_activity`, in time order: from the region's complete series when it has one (the intervals found by
    PostgreSQL), else from the minutes' cells (a rectangle on their grid) or arrays."""
    label, rectangle = resolve_region(camera, region)
    picture = source_size(conn, camera.camera_id)
    if picture and (rectangle[0] >= picture[0] or rectangle[1] >= picture[1]):
        raise ValueError(f"region {region} lies outside camera {camera.camera_id}'s picture "
                         f"({picture[0]}x{picture[1]} source pixels)")
    if _series_serves(conn, camera.camera_id, label, rectangle):
        intervals, minutes = region_intervals(conn, camera.camera_id, label, start, end, min_activity)
        changes, from_series = downscale_changes_between(conn, camera.camera_id, start, end), True
        from_cells = 0
    else:
        series, from_cells = rectangle_activity(conn, camera.camera_id, rectangle, start, end)
        intervals, minutes = activity_intervals(series, min_activity), len(series)
        changes, from_series = downscale_changes(series), False
    answer = RegionAnswer(camera.camera_id, label, rectangle, intervals, changes, from_series, minutes, from_cells)
    if label in camera.regions and not from_series:
        answer.notes.append(f"the series of region {label} is not built yet (asset heatmap_regions/"
                            f"{camera.camera_id}): read from {answer.read_from} instead")
    return answer


@dataclass(frozen=True)
class RegionPeriod:
    start: datetime
    minutes: int  # stored minutes in the period
    activity: float  # the region's activity summed over them


def region_timeline(conn: psycopg.Connection, camera: Camera, region: str, start: datetime, end: datetime,
                    grain: str) -> tuple[list[RegionPeriod], RegionAnswer]:
    """The region's activity per minute, hour or day (`grain`) of `start <= t < end`, periods with stored minutes
    only; the answer says where it was read from and any downscale change."""
    label, rectangle = resolve_region(camera, region)
    series, from_series, from_cells = region_minutes(conn, camera, label, rectangle, start, end)
    periods: dict[datetime, list[float]] = {}
    for point in series:
        periods.setdefault(floor(point.minute, STEPS[grain]), []).append(point.activity)
    timeline = [RegionPeriod(period, len(values), sum(values)) for period, values in sorted(periods.items())]
    return timeline, RegionAnswer(camera.camera_id, label, rectangle, [], downscale_changes(series),
                                  from_series, len(series), from_cells)


def write_region_csv(out: TextIO, answer: RegionAnswer, periods: list[RegionPeriod], grain: str) -> None:
    """The region's activity per period as CSV (`roz export --region`)."""
    writer = csv.writer(out)
    writer.writerow(["camera_id", "region", f"{grain}_utc", "minutes", "activity", "activity_per_minute"])
    for p in periods:
        writer.writerow([answer.camera_id, answer.region, p.start.strftime("%Y-%m-%dT%H:%M:%SZ"), p.minutes,
                         f"{p.activity:.1f}", f"{p.activity / p.minutes:.1f}"])


def complete_region_series(conn: psycopg.Connection, camera: Camera) -> dict[str, int]:
    """Bring the camera's stored region series in line with its registry entry: regions no longer listed go, new
    or moved ones are computed from every stored minute. Returns minutes computed per region (0: already
    complete)."""
    stored = stored_regions(conn, camera.camera_id)
    for name in stored.keys() - camera.regions.keys():
        delete_region(conn, camera.camera_id, name)
    pending = {name: rectangle for name, rectangle in camera.regions.items()
               if name not in stored or not stored[name].serves(rectangle)}
    if not pending:
        return {name: 0 for name in camera.regions}
    for name, rectangle in pending.items():
        define_region(conn, camera.camera_id, name, rectangle, complete=False)
    minutes, values = 0, []
    for stored_minute, activities in _minute_activities(conn, camera.camera_id, pending, *ALL_TIME):
        minutes += 1
        values.extend((name, stored_minute.minute, activity) for name, activity in activities.items())
        if len(values) >= REBUILD_BATCH:
            _write(conn, camera.camera_id, values)
            values = []
    _write(conn, camera.camera_id, values)
    for name, rectangle in pending.items():
        define_region(conn, camera.camera_id, name, rectangle, complete=True)
    return {name: minutes if name in pending else 0 for name in camera.regions}


def _write(conn: psycopg.Connection, camera_id: str, values: list[tuple[str, datetime, float]]) -> None:
    with conn.transaction():
        write_region_activities(conn, camera_id, values)
