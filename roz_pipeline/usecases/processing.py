"""One camera's window of minutes: read the clips that cover it, split their frames into wall-clock minutes, write
one row per minute with footage. No Dagster.

A clip starts at the time in its name; each frame is recorded at that start plus its presentation timestamp. A
clip is decoded once per window however many minutes it feeds, and only as far as the window reaches (a clip that
started before the window is read from just before the window's start, to warm the motion detector up).

Every minute of the window ends in exactly one outcome: written (frames from one or more clips; a damaged,
unreadable or overlapping clip among them is named on the minute), missing (no footage), or bad (its only clips
could not be read, with a message naming them). A bad minute never stops the others and never touches other rows.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np
import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipRef
from roz_pipeline.clips.stores import ClipMissingError
from roz_pipeline.core.minutes import MinuteFootage, MinuteHeatmaps
from roz_pipeline.core.timesteps import MINUTE, floor, steps
from roz_pipeline.core.video import ClipError, LumaDecoder
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import HeatmapMinute, MinuteSources, write_minute

WARMUP = timedelta(seconds=3)  # footage before the window fed to the motion detector, not counted


@dataclass(frozen=True)
class WrittenMinute:
    minute: datetime
    video_path: str
    frame_count: int
    covered_seconds: float
    total_intensity: float
    nonzero_pixels: int
    compressed_bytes: int
    damage: str | None  # the minute's problem clips in one sentence, None when every clip was clean


@dataclass
class WindowReport:
    written: list[WrittenMinute] = field(default_factory=list)
    missing: list[datetime] = field(default_factory=list)
    bad: dict[datetime, str] = field(default_factory=dict)  # minute -> message naming the clip(s)
    problems: list[str] = field(default_factory=list)  # keys in the store that fit no camera or layout
    summed_heatmap: np.ndarray | None = None  # the window's minutes added up, for a picture
    still: np.ndarray | None = None

    def for_window(self, start: datetime, end: datetime) -> "WindowReport":
        """The part of this report for minutes `start <= minute < end` (one Dagster partition)."""
        return WindowReport(
            [w for w in self.written if start <= w.minute < end],
            [m for m in self.missing if start <= m < end],
            {m: e for m, e in self.bad.items() if start <= m < end},
        )


def read_minutes(clips: list[ClipRef], store, camera: Camera, start: datetime, end: datetime,
                 log=None) -> Iterator[MinuteFootage]:
    """The minutes of `start <= t < end` that `clips` (in start order) cover, each as soon as it is complete."""
    minutes = MinuteHeatmaps(start, end, camera.motion_settings, camera.ignore)
    cv2.setNumThreads(1)  # see core.heatmap: one core per clip decodes fastest across many processes
    for clip, fetch in store.fetched(clips):
        if fetch.error is not None:
            minutes.gap()
            if isinstance(fetch.error, ClipMissingError):
                if log:
                    log.warning(str(fetch.error))
            else:
                minutes.note(floor(clip.start, MINUTE), clip.key, str(fetch.error))
            continue
        decoder = LumaDecoder(fetch.path, start_at=max(0.0, (start - WARMUP - clip.start).total_seconds()))
        last = clip.start
        try:
            for frame in decoder:
                last = clip.start + timedelta(seconds=frame.time)
                if last >= end:
                    break
                minutes.add(last, frame.luma, clip.key, decoder.report.frame_interval)
        except ClipError as exc:
            minutes.gap()
            minutes.note(floor(clip.start, MINUTE), clip.key, f"{clip.location}: {exc.reason}: {exc.detail}")
        except Exception as exc:  # a decoder or library fault on one clip must not stop the other minutes
            minutes.gap()
            minutes.note(floor(clip.start, MINUTE), clip.key,
                         f"{clip.location}: could not be decoded ({type(exc).__name__}: {exc})")
        else:
            if decoder.report.damage:
                minutes.note_all(clip.key, f"{clip.location}: damaged clip, kept the decodable frames: "
                                           f"{decoder.report.damage}")
        yield from minutes.final(before=floor(last, MINUTE))
    yield from minutes.final()


def process_window(camera: Camera, catalog: ClipCatalog, conn: psycopg.Connection, start: datetime, end: datetime,
                   log=None) -> WindowReport:
    """Write the camera's rows for every minute in `start <= minute < end` that has footage."""
    listing = catalog.clips_for_window(camera.camera_id, start, end)
    report = WindowReport(problems=[problem.message for problem in listing.problems])
    for problem in report.problems:
        if log:
            log.warning(f"clip store: {problem}")
    clips = listing.clips[camera.camera_id]
    by_key = {clip.key: clip for clip in clips}
    done = set()
    for found in read_minutes(clips, catalog.store, camera, start, end, log):
        if found.minute in done:  # a problem noted on a minute already handed over (overlapping clips)
            if log:
                log.warning(f"{camera.camera_id} {found.minute:%Y-%m-%d %H:%M}: {'; '.join(found.problems.values())}")
            continue
        done.add(found.minute)
        if found.frame_count:
            _write(conn, camera, found, by_key, report, log)
        else:
            report.bad[found.minute] = "; ".join(found.problems.values())
    report.missing = [minute for minute in steps(start, end, MINUTE) if minute not in done]
    return report


def fingerprint(clips: list[ClipRef]) -> str:
    """sha256 of the clips' keys and sizes: the same clips give the same fingerprint."""
    text = "\n".join(f"{clip.key}\t{clip.size}" for clip in sorted(clips, key=lambda c: c.key))
    return hashlib.sha256(text.encode()).hexdigest()


def _write(conn, camera: Camera, found: MinuteFootage, by_key: dict[str, ClipRef], report: WindowReport, log) -> None:
    heatmap = found.heatmap
    row = HeatmapMinute.of(camera.camera_id, found.minute, by_key[found.first_source].location, heatmap,
                           camera.motion_settings.downscale_factor, found.frame_count)
    read = [by_key[key] for key in dict.fromkeys([*found.sources, *found.problems])]
    sources = MinuteSources(camera.camera_id, found.minute, list(found.sources), round(found.covered_seconds, 2),
                            dict(found.problems), fingerprint(read))
    write_minute(conn, row, sources)
    damage = "; ".join(f"{key}: {problem}" for key, problem in found.problems.items()) or None
    if damage and log:
        log.warning(f"{camera.camera_id} {found.minute:%Y-%m-%d %H:%M}: {damage}")
    report.written.append(WrittenMinute(found.minute, row.video_path, found.frame_count, sources.covered_seconds,
                                        row.total_intensity, row.nonzero_pixels, len(row.intensity_array), damage))
    if found.still is not None:
        report.still = found.still
    if report.summed_heatmap is None:
        report.summed_heatmap = heatmap.copy()
    elif report.summed_heatmap.shape == heatmap.shape:
        report.summed_heatmap += heatmap
