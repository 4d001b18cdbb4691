"""Where and when: the minutes in which something moved inside a region, and keeping the series of each camera's
named regions (cameras.yaml `regions`) complete so that the question reads one number per minute.

A question about a named region whose series is complete reads `heatmap_region_minutes`; any other rectangle (or a
series still being built) reads the minute arrays. Both compute `core.regions.region_activity`: the same answer.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg

from roz_pipeline.core.codec import decode_intensity
from roz_pipeline.core.motion import Rectangle
from roz_pipeline.core.regions import (
    ActivityInterval,
    MinuteActivity,
    activity_intervals,
    downscale_changes,
    region_activity,
    region_box,
)
from roz_pipeline.core.timesteps import STEPS, floor
from roz_pipeline.registry import Camera
from roz_pipeline.storage.regions import (
    define_region,
    delete_region,
    first_clips,
    region_series,
    stored_arrays,
    stored_regions,
    write_region_activities,
)

ALL_TIME = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(9999, 1, 1, tzinfo=timezone.utc))
REBUILD_BATCH = 500  # minutes decoded and written per transaction when a region's series is (re)built


@dataclass
class RegionAnswer:
    camera_id: str
    region: str  # its name, or "x0,y0,x1,y1"
    rectangle: Rectangle
    intervals: list[ActivityInterval]
    clips: dict[datetime, list[str]]  # each interval's first minute -> the clips it was built from
    downscale_changes: list[tuple[datetime, float, float]]
    from_series: bool  # read from the stored series (else from the arrays)
    minutes_with_data: int = 0
    notes: list[str] = field(default_factory=list)


def resolve_region(camera: Camera, region: str) -> tuple[str, Rectangle]:
    """A region argument, a name from the camera's `regions` or `x0,y0,x1,y1` in source pixels: (label,
    rectangle)."""
    if region in camera.regions:
        return region, tuple(camera.regions[region])
    parts = region.split(",")
    if len(parts) == 4:
        try:
            rectangle = tuple(int(p) for p in parts)
        except ValueError:
            rectangle = None
        if rectangle is not None:
            x0, y0, x1, y1 = rectangle
            if x1 <= x0 or y1 <= y0 or min(x0, y0) < 0:
                raise ValueError(f"region {region}: needs 0 <= x0 < x1 and 0 <= y0 < y1 (source pixels)")
            return region, rectangle
    names = ", ".join(sorted(camera.regions)) or "none"
    raise ValueError(f"region {region!r} is neither X0,Y0,X1,Y1 (source pixels) nor a named region of camera "
                     f"{camera.camera_id} (named: {names})")


def activity_from_arrays(conn: psycopg.Connection, camera_id: str, rectangle: Rectangle, start: datetime,
                         end: datetime) -> list[MinuteActivity]:
    """The region's activity in every stored minute of `start <= t < end`, each array decoded."""
    series = []
    for stored in stored_arrays(conn, camera_id, start, end):
        heatmap = decode_intensity(stored.intensity_array, stored.height, stored.width)
        box = region_box(rectangle, stored.downscale_factor, stored.height, stored.width)
        series.append(MinuteActivity(stored.minute, region_activity(heatmap, box), stored.downscale_factor))
    return series


def region_minutes(conn: psycopg.Connection, camera: Camera, label: str, rectangle: Rectangle, start: datetime,
                   end: datetime) -> tuple[list[MinuteActivity], bool]:
    """(the region's activity per stored minute, whether it came from the stored series)."""
    stored = stored_regions(conn, camera.camera_id).get(label)
    if stored is not None and stored.complete and tuple(stored.rectangle) == tuple(rectangle):
        return region_series(conn, camera.camera_id, label, start, end), True
    return activity_from_arrays(conn, camera.camera_id, rectangle, start, end), False


def when(conn: psycopg.Connection, camera: Camera, region: str, start: datetime, end: datetime,
         min_activity: float = 0.0) -> RegionAnswer:
    """The intervals of consecutive minutes in `start <= t < end` whose activity inside `region` exceeds
    `min_activity`, in time order."""
    label, rectangle = resolve_region(camera, region)
    series, from_series = region_minutes(conn, camera, label, rectangle, start, end)
    intervals = activity_intervals(series, min_activity)
    answer = RegionAnswer(camera.camera_id, label, rectangle, intervals,
                          first_clips(conn, camera.camera_id, [i.start for i in intervals]),
                          downscale_changes(series), from_series, len(series))
    if label in camera.regions and not from_series:
        answer.notes.append(f"the series of region {label} is not built yet (asset heatmap_regions/"
                            f"{camera.camera_id}): read every minute's array instead")
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
    series, from_series = region_minutes(conn, camera, label, rectangle, start, end)
    periods: dict[datetime, list[float]] = {}
    for point in series:
        periods.setdefault(floor(point.minute, STEPS[grain]), []).append(point.activity)
    timeline = [RegionPeriod(period, len(values), sum(values)) for period, values in sorted(periods.items())]
    return timeline, RegionAnswer(camera.camera_id, label, rectangle, [], {}, downscale_changes(series),
                                  from_series, len(series))


def complete_region_series(conn: psycopg.Connection, camera: Camera) -> dict[str, int]:
    """Bring the camera's stored region series in line with its registry entry: regions no longer listed go, new
    or moved ones are computed from every stored minute. Returns minutes computed per region (0: already
    complete)."""
    stored = stored_regions(conn, camera.camera_id)
    for name in stored.keys() - camera.regions.keys():
        delete_region(conn, camera.camera_id, name)
    computed = {}
    for name, rectangle in camera.regions.items():
        current = stored.get(name)
        if current is not None and current.complete and tuple(current.rectangle) == tuple(rectangle):
            computed[name] = 0
            continue
        define_region(conn, camera.camera_id, name, rectangle, complete=False)
        values: list[tuple[str, datetime, float]] = []
        computed[name] = 0
        for point in activity_from_arrays(conn, camera.camera_id, rectangle, *ALL_TIME):
            values.append((name, point.minute, point.activity))
            if len(values) == REBUILD_BATCH:
                _write(conn, camera.camera_id, values)
                computed[name] += len(values)
                values = []
        _write(conn, camera.camera_id, values)
        computed[name] += len(values)
        define_region(conn, camera.camera_id, name, rectangle, complete=True)
    return computed


def _write(conn: psycopg.Connection, camera_id: str, values: list[tuple[str, datetime, float]]) -> None:
    with conn.transaction():
        write_region_activities(conn, camera_id, values)
