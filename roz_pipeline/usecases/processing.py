"""One camera's window of minutes: read the clips that cover it, split their frames into wall-clock minutes, write
one row per minute with footage. No Dagster.

A clip starts at the time in its name; each frame is recorded at that start plus its presentation timestamp. A
clip is decoded once per window however many minutes it feeds, and only as far as the window reaches (a clip that
started before the window is read from just before the window's start, to warm the motion detector up).

Every minute of the window ends in exactly one outcome: written (frames from one or more clips; a damaged,
unreadable or overlapping clip among them is named on the minute), missing (no footage), or bad (its only clips
could not be read, with a message naming them). A bad minute never stops the others and never touches other rows.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg

from roz_pipeline.clips.catalog import ClipCatalog, fingerprint
from roz_pipeline.clips.stores import ClipMissingError, ClipRef
from roz_pipeline.core.cells import cell_sums
from roz_pipeline.core.gate import gate_for
from roz_pipeline.core.minutes import MinuteFootage, MinuteHeatmaps
from roz_pipeline.core.regions import region_activity, region_box
from roz_pipeline.core.timesteps import MINUTE, floor, steps
from roz_pipeline.core.video import ClipError, LumaDecoder
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import BuiltMinute, HeatmapMinute, MinuteSources, write_minute

WARMUP = timedelta(seconds=3)  # footage before the window fed to the motion detector, not counted
# Faults of the machine, not of a clip (clip problems arrive as ClipError: LumaDecoder wraps FFmpeg's errors and
# the file's own OSErrors): out of memory, a full disk, a lost database connection.
ENVIRONMENT_FAULTS = (MemoryError, OSError, psycopg.Error)


# How much of a clip was read: (the version read, the recording time it was read until; None: to its end).
ClipReadExtent = tuple[str | None, datetime | None]


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
    decoded: dict[str, int] | None = None  # frames decoded, by why (None: stored by an earlier run)
    decoded_full: dict[str, str] = field(default_factory=dict)  # video path -> why a gate decoded it fully


@dataclass
class WindowReport:
    written: list[WrittenMinute] = field(default_factory=list)
    missing: list[datetime] = field(default_factory=list)
    bad: dict[datetime, str] = field(default_factory=dict)  # minute -> message naming the clip(s)
    problems: list[str] = field(default_factory=list)  # keys in the store that fit no camera or layout
    summed_heatmap: np.ndarray | None = None  # the window's minutes added up, for a picture
    still: np.ndarray | None = None
    reads: dict[str, ClipReadExtent] = field(default_factory=dict)  # key -> how much of which version was read

    def for_window(self, start: datetime, end: datetime) -> "WindowReport":
        """The part of this report for minutes `start <= minute < end` (one Dagster partition)."""
        return WindowReport(
            [w for w in self.written if start <= w.minute < end],
            [m for m in self.missing if start <= m < end],
            {m: e for m, e in self.bad.items() if start <= m < end},
        )


def merge_reads(reads: dict[str, ClipReadExtent], more: dict[str, ClipReadExtent]) -> None:
    """Add `more` to `reads`: of the same version, the read that went further counts."""
    for key, (version, until) in more.items():
        known = reads.get(key)
        if known is not None and known[0] == version:
            until = None if until is None or known[1] is None else max(until, known[1])
        reads[key] = (version, until)


class WindowReader:
    """Reads clips of one camera's window `start <= t < end` in recording order, keeping the motion detector's state
    between calls, and hands over each minute once nothing more can be added to it. `reads` says how far each clip
    was read (for the clip inventory)."""

    def __init__(self, store, camera: Camera, start: datetime, end: datetime, log=None):
        self.store, self.start, self.end, self.log = store, start, end, log
        self.minutes = MinuteHeatmaps(start, end, camera.motion_settings, camera.ignore, gate_for(camera.decode))
        self.handed_until = start  # every minute before this was handed over
        self.reads: dict[str, ClipReadExtent] = {}

    def read(self, clips: list[ClipRef]) -> Iterator[MinuteFootage]:
        """Feed `clips` (in start order, after any read before) and hand over the minutes they complete."""
        for clip, fetch in self.store.fetched(clips):
            last, until = self._read(clip, fetch)
            if not isinstance(fetch.error, ClipMissingError):  # a clip gone is the inventory's news, not a read
                merge_reads(self.reads, {clip.key: (clip.version, until)})
            yield from self.flush(before=floor(last, MINUTE))

    @property
    def position(self) -> datetime:
        """The recording time of the last frame read (the window's start before any)."""
        return self.minutes.last_time or self.start

    def flush(self, before: datetime | None = None) -> list[MinuteFootage]:
        """Hand over the minutes before `before` (all, when None): no more footage is coming for them."""
        handed = self.minutes.final(before)
        self.handed_until = max(self.handed_until, self.end if before is None else min(before, self.end))
        return handed

    def _read(self, clip: ClipRef, fetch) -> tuple[datetime, datetime | None]:
        """Feed one clip's frames; the recording time reached (its start when it could not be read), and the
        window's end when the clip runs past it (None: it was read to its end, or cannot be read)."""
        minutes = self.minutes
        if fetch.error is not None:
            minutes.gap()
            if isinstance(fetch.error, ClipMissingError):
                if self.log:
                    self.log.warning(str(fetch.error))
            else:
                minutes.note(floor(clip.start, MINUTE), clip.key, str(fetch.error))
            return clip.start, None
        decoder = LumaDecoder(fetch.path, start_at=max(0.0, (self.start - WARMUP - clip.start).total_seconds()),
                              gate=minutes.gate)
        try:
            reached = minutes.read(decoder, clip.start, clip.key)
        except ClipError as exc:
            minutes.gap()
            minutes.note(floor(clip.start, MINUTE), clip.key, f"{clip.video_path}: {exc.reason}: {exc.detail}")
        except ENVIRONMENT_FAULTS:
            raise  # not the clip's fault: the step fails and its RetryPolicy runs it again
        except Exception as exc:  # a decoder or library fault on one clip must not stop the other minutes
            minutes.gap()
            minutes.note(floor(clip.start, MINUTE), clip.key,
                         f"{clip.video_path}: could not be decoded ({type(exc).__name__}: {exc})")
        else:
            if decoder.report.damage:
                minutes.note_all(clip.key, f"{clip.video_path}: damaged clip, kept the decodable frames: "
                                           f"{decoder.report.damage}")
            if decoder.report.full_because and self.log:
                self.log.info(f"{clip.video_path}: decoded: full ({decoder.report.full_because})")
            return reached
        return max(clip.start, minutes.last_time or clip.start), None  # as far as the clip could be read


def read_minutes(clips: list[ClipRef], store, camera: Camera, start: datetime, end: datetime,
                 log=None) -> Iterator[MinuteFootage]:
    """The minutes of `start <= t < end` that `clips` (in start order) cover, each as soon as it is complete."""
    reader = WindowReader(store, camera, start, end, log)
    yield from reader.read(clips)
    yield from reader.flush()


def process_window(camera: Camera, catalog: ClipCatalog, conn: psycopg.Connection, start: datetime, end: datetime,
                   log=None, clock=None) -> WindowReport:
    """Write the camera's rows for every minute in `start <= minute < end` that has footage; the report says how
    far each clip was read."""
    listed_at = (clock or _now)()
    listing = catalog.clips_for_window([camera.camera_id], start, end)
    recorder = MinuteRecorder(conn, camera, log)
    recorder.problems(listing.problems)
    clips = listing.clips[camera.camera_id]
    reader = WindowReader(catalog.store, camera, start, end, log)
    for found in reader.read(clips):
        recorder.record(found, clips, listed_at)
    for found in reader.flush():
        recorder.record(found, clips, listed_at)
    report = recorder.finish(start, end, listed_at)
    report.reads = reader.reads
    return report


class MinuteRecorder:
    """Records the minutes a reader hands over: writes the ones with frames, and keeps the window's report."""

    def __init__(self, conn: psycopg.Connection, camera: Camera, log=None):
        self.conn, self.camera, self.log = conn, camera, log
        self.report = WindowReport()
        self._outcomes: dict[datetime, str] = {}  # minute -> "written" or "bad"

    def problems(self, problems) -> None:
        for problem in problems:
            if problem.message not in self.report.problems:
                self.report.problems.append(problem.message)
                if self.log:
                    self.log.warning(f"clip store: {problem.message}")

    def record(self, found: MinuteFootage, clips: list[ClipRef], listed_at: datetime) -> None:
        """Write `found` (read from `clips`, listed at `listed_at`) unless a newer listing's row is stored."""
        minute, camera_id = found.minute, self.camera.camera_id
        if minute in self._outcomes:  # a problem noted on a minute already handed over (overlapping clips)
            if self.log:
                self.log.warning(f"{camera_id} {minute:%Y-%m-%d %H:%M}: {'; '.join(found.problems.values())}")
            return
        if not found.frame_count:
            self._outcomes[minute] = "bad"
            self.report.bad[minute] = "; ".join(found.problems.values())
            return
        by_key = {clip.key: clip for clip in clips}
        heatmap = found.heatmap
        row = HeatmapMinute.of(camera_id, minute, by_key[found.first_clip].video_path, heatmap,
                               self.camera.motion_settings.downscale_factor, found.frame_count)
        read = [by_key[key] for key in dict.fromkeys([*found.clips, *found.problems])]
        sources = MinuteSources(camera_id, minute, list(found.clips), round(found.covered_seconds, 2),
                                dict(found.problems), fingerprint(read), listed_at)
        factor = self.camera.motion_settings.downscale_factor
        regions = {name: region_activity(heatmap, region_box(rectangle, factor, row.height, row.width))
                   for name, rectangle in self.camera.regions.items()}
        if not write_minute(self.conn, row, sources, regions, cell_sums(heatmap)) and self.log:
            self.log.info(f"{camera_id} {minute:%Y-%m-%d %H:%M}: kept the stored row, computed from a newer listing")
        self._outcomes[minute] = "written"
        damage = "; ".join(f"{key}: {problem}" for key, problem in found.problems.items()) or None
        if damage and self.log:
            self.log.warning(f"{camera_id} {minute:%Y-%m-%d %H:%M}: {damage}")
        self.report.written.append(WrittenMinute(
            minute, row.video_path, found.frame_count, sources.covered_seconds, row.total_intensity,
            row.nonzero_pixels, len(row.intensity_array), damage, dict(found.decoded),
            {by_key[key].video_path: reason for key, reason in found.decoded_full.items()}))
        if found.still is not None:
            self.report.still = found.still
        self._add_to_sum(heatmap)

    def carry(self, stored: list[BuiltMinute]) -> None:
        """Count minutes a run before this one stored, which this one does not read again, as written."""
        for minute in stored:
            row, sources = minute.row, minute.sources
            damage = "; ".join(f"{key}: {problem}" for key, problem in sources.problem_clips.items()) or None
            self._outcomes[row.timestamp] = "written"
            self.report.written.append(WrittenMinute(row.timestamp, minute.video_path, row.frame_count,
                                                     sources.covered_seconds, row.total_intensity,
                                                     minute.nonzero_pixels, row.compressed_bytes, damage))
            self._add_to_sum(row.heatmap)

    def _add_to_sum(self, heatmap: np.ndarray) -> None:
        report = self.report
        if report.summed_heatmap is None:
            report.summed_heatmap = heatmap.copy()
        elif report.summed_heatmap.shape == heatmap.shape:
            report.summed_heatmap += heatmap

    def recorded(self, minute: datetime) -> bool:
        """Whether `minute` has an outcome already (written, or bad)."""
        return minute in self._outcomes

    def forget(self, start: datetime, end: datetime) -> None:
        """The minutes of `start <= t < end` are being read again: their outcomes so far no longer count."""
        self._outcomes = {m: o for m, o in self._outcomes.items() if not start <= m < end}
        self.report.written = [w for w in self.report.written if not start <= w.minute < end]
        self.report.bad = {m: e for m, e in self.report.bad.items() if not start <= m < end}

    def finish(self, start: datetime, end: datetime, now: datetime | None = None) -> WindowReport:
        """The report, with the minutes of `start <= t < end` that got nothing listed as missing; minutes that had
        not ended by `now` have not happened yet: they are not missing."""
        happened = end if now is None else min(end, floor(now, MINUTE))
        self.report.missing = [minute for minute in steps(start, happened, MINUTE) if minute not in self._outcomes]
        return self.report


def _now() -> datetime:
    return datetime.now(timezone.utc)
