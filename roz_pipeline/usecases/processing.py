"""One camera's window of minutes: find each clip, compute its heatmap, write its row. No Dagster.

Every minute ends in exactly one outcome: written, missing (no clip), or bad (the clip could not become a row,
with a message naming it). A bad minute never stops the others and never touches other rows.
"""

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import psycopg

from roz_pipeline.clips.stores import ClipMissingError, ClipStoreError
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.timesteps import MINUTE, steps
from roz_pipeline.core.video import ClipError
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import HeatmapMinute, write_minute


@dataclass(frozen=True)
class WrittenMinute:
    minute: datetime
    video_path: str
    frame_count: int
    total_intensity: float
    nonzero_pixels: int
    compressed_bytes: int
    damage: str | None


@dataclass
class WindowReport:
    written: list[WrittenMinute] = field(default_factory=list)
    missing: list[datetime] = field(default_factory=list)
    bad: dict[datetime, str] = field(default_factory=dict)  # minute -> message naming the clip
    summed_heatmap: np.ndarray | None = None  # the window's minutes added up, for a picture
    still: np.ndarray | None = None

    def for_window(self, start: datetime, end: datetime) -> "WindowReport":
        """The part of this report for minutes `start <= minute < end` (one Dagster partition)."""
        return WindowReport(
            [w for w in self.written if start <= w.minute < end],
            [m for m in self.missing if start <= m < end],
            {m: e for m, e in self.bad.items() if start <= m < end},
        )


def process_window(camera: Camera, store, conn: psycopg.Connection, start: datetime, end: datetime,
                   log=None) -> WindowReport:
    """Write the camera's rows for every minute in `start <= minute < end` that has a good clip."""
    listing = store.clips_between(camera.camera_id, start, end)
    report = WindowReport()
    for problem in listing.problems:
        if problem.minute is not None:
            report.bad[problem.minute] = problem.message
        elif log:
            log.warning(f"clip store: {problem.message}")
    clips = {clip.minute: clip for clip in listing.clips}
    for minute in steps(start, end, MINUTE):
        if minute in report.bad:
            continue
        clip = clips.get(minute)
        if clip is None:
            report.missing.append(minute)
            continue
        try:
            with store.local_file(clip) as path:  # transient store errors propagate: the step retries
                result = _heatmap(clip, path, camera)
        except ClipMissingError as exc:
            report.missing.append(minute)
            if log:
                log.warning(str(exc))
            continue
        except ClipStoreError as exc:
            report.bad[minute] = str(exc)
            continue
        except ClipError as exc:
            report.bad[minute] = f"{clip.location}: {exc.reason}: {exc.detail}"
            continue
        encoded = result.encoded()
        write_minute(conn, HeatmapMinute(
            camera.camera_id, minute, clip.location, result.height, result.width, result.downscale_factor,
            encoded, result.frame_count, result.total_intensity, result.max_intensity, result.nonzero_pixels,
        ))
        if result.damage and log:
            log.warning(f"{clip.location}: damaged clip, kept the decodable frames: {result.damage}")
        report.written.append(WrittenMinute(minute, clip.location, result.frame_count, result.total_intensity,
                                            result.nonzero_pixels, len(encoded), result.damage))
        _add_to_picture(report, result)
    return report


def _heatmap(clip, path, camera: Camera):
    """The clip's heatmap; any failure inside the decoder becomes a ClipError for this clip alone."""
    try:
        return compute_heatmap(path, camera.motion_settings, camera.ignore)
    except ClipError:
        raise
    except Exception as exc:  # a decoder or library fault on one clip must not stop the other minutes
        raise ClipError(clip.location, f"could not be decoded ({type(exc).__name__}: {exc})") from exc


def _add_to_picture(report: WindowReport, result) -> None:
    if report.summed_heatmap is None:
        report.summed_heatmap, report.still = result.heatmap.copy(), result.still
    elif report.summed_heatmap.shape == result.heatmap.shape:
        report.summed_heatmap += result.heatmap
