"""Following a window in progress: one run follows several cameras' hour, listing their clips as they land, decoding
each new clip once, and writing every minute as soon as its footage is in, until the hour has ended and settled. No
Dagster.

A minute is written when the footage has moved past it (the next clip's first frame), or MINUTE_SETTLE after it
ended when no later footage came (the recorder stopped). A clip that lands out of order, before footage already
read, has its minutes read again with it, up to the minute of the next clip read before (where the motion
detector's state joins the footage already written); the rest stands. After the window has ended, SETTLE more for
its last clips; later arrivals are the sensor's (a run for the hour's new inputs).

Which cameras a following run takes: the cameras that recorded lately (LIVE_WITHIN), in runs of at most
`cameras_per_run`, each camera followed once per window.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipRef
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.processing import MinuteRecorder, WindowReader, WindowReport, merge_reads

POLL = timedelta(seconds=15)  # how often the store is listed while following (back to back when reading takes longer)
MINUTE_SETTLE = timedelta(seconds=60)  # a minute is written at the latest this long after it ended
SETTLE = timedelta(seconds=90)  # after the window has ended: how long its last clips may take to land
LIVE_WITHIN = timedelta(minutes=10)  # a camera is live when a clip of it started this recently (or its longest clip)
PROGRESS_EVERY = timedelta(minutes=10)  # how often a following run reports the minutes written so far


def follow_windows(cameras: list[Camera], catalog: ClipCatalog, conn: psycopg.Connection, start: datetime,
                   end: datetime, clock: Callable[[], datetime], sleep: Callable[[float], None],
                   log=None, progress: Callable[[dict[str, WindowReport]], None] | None = None,
                   ) -> dict[str, WindowReport]:
    """Write the cameras' minutes of `start <= t < end` while their clips land, until `end + SETTLE`; each camera's
    report by id. One listing of the store per POLL serves every camera. Every PROGRESS_EVERY until the window has
    ended, `progress` gets each camera's report so far (minutes that could still be written are not missing)."""
    followers = [_Follower(camera, catalog, conn, start, end, log) for camera in cameras]
    reported: set[str] = set()
    progressed_at = start
    while True:
        listed_at = clock()
        listing = catalog.clips_for_window([camera.camera_id for camera in cameras], start, end)
        for problem in listing.problems:
            if problem.message not in reported and log:
                log.warning(f"clip store: {problem.message}")
            reported.add(problem.message)
        settled = listed_at >= end + SETTLE
        for follower in followers:
            follower.take(listing, listed_at, settled)
        if settled:
            return {f.camera.camera_id: f.finish() for f in followers}
        if progress is not None and listed_at < end and listed_at - progressed_at >= PROGRESS_EVERY:
            progressed_at = listed_at
            progress({f.camera.camera_id: f.finish(listed_at - MINUTE_SETTLE) for f in followers})
        sleep(max(0.0, (listed_at + POLL - clock()).total_seconds()))  # listed every POLL, however long reading took


class _Follower:
    """One camera's window while it fills: reads each new clip once, and re-reads minutes a late clip falls in."""

    def __init__(self, camera: Camera, catalog: ClipCatalog, conn: psycopg.Connection, start: datetime,
                 end: datetime, log):
        self.camera, self.catalog, self.start, self.end, self.log = camera, catalog, start, end, log
        self.recorder = MinuteRecorder(conn, camera, log)
        self.reader = WindowReader(catalog.store, camera, start, end, log)
        self.read: dict[str, str | None] = {}  # key -> version of every clip read
        self.reads_again: dict = {}  # how far the clips read again were read (usecases.processing.merge_reads)

    def take(self, listing, listed_at: datetime, settled: bool) -> None:
        """Read what `listing` (at `listed_at`) holds that is new, and write the minutes that are complete (all of
        them once the window has `settled`)."""
        recorder, reader = self.recorder, self.reader
        clips = listing.clips[self.camera.camera_id]
        new = [clip for clip in clips if clip.key not in self.read or self.read[clip.key] != clip.version]
        late = [clip for clip in new if clip.start < reader.position or recorder.recorded(floor(clip.start, MINUTE))]
        if late:
            self._read_again(clips, late, listed_at)
        for found in reader.read([clip for clip in new if clip not in late]):
            recorder.record(found, clips, listed_at)
        self.read.update((clip.key, clip.version) for clip in new)
        for found in reader.flush(None if settled else floor(listed_at - MINUTE_SETTLE, MINUTE)):
            recorder.record(found, clips, listed_at)

    def _read_again(self, clips: list[ClipRef], late: list[ClipRef], listed_at: datetime) -> None:
        """Read the minutes the late clips fall in again, with every clip there, up to the minute of the next clip
        that was read before (where the motion state joins the minutes already written)."""
        since = max(self.start, floor(min(clip.start for clip in late), MINUTE))
        after = [clip for clip in clips if clip.start > max(c.start for c in late)]
        until = min(self.end, floor(after[0].start if after else self.end, MINUTE) + MINUTE)
        self.recorder.forget(since, until)
        if self.log:
            self.log.info(f"{self.camera.camera_id}: {len(late)} clip(s) landed out of order; reading "
                          f"{since:%H:%M}-{until:%H:%M} again")
        span = [clip for clip in clips if clip.start < since][-1:] + [c for c in clips if since <= c.start < until]
        reader = WindowReader(self.catalog.store, self.camera, since, until, self.log)
        for found in [*reader.read(span), *reader.flush()]:
            self.recorder.record(found, clips, listed_at)
        merge_reads(self.reads_again, reader.reads)

    def finish(self, now: datetime | None = None) -> WindowReport:
        """The window's report, with how far each clip was read (`now`: so far, minutes after it not missing)."""
        report = self.recorder.finish(self.start, self.end, now)
        report.reads = dict(self.reader.reads)
        merge_reads(report.reads, self.reads_again)
        return report


@dataclass(frozen=True)
class FollowRequest:
    """A run to start: follow `camera_ids` through the window of partition `partition_key`."""

    partition_key: str
    camera_ids: tuple[str, ...]


def cameras_to_follow(catalog: ClipCatalog, camera_ids: list[str], following: dict[str, str], partition_key: str,
                      start: datetime, now: datetime, cameras_per_run: int) -> list[FollowRequest]:
    """The runs that follow the window in progress (`partition_key`, from `start`) for the cameras not followed in it
    yet (`following`: camera -> the window a run follows) that are live: a clip of theirs started in the window or
    within LIVE_WITHIN. At most `cameras_per_run` cameras per run. Raises ClipStoreError when the store cannot be
    listed."""
    waiting = [c for c in camera_ids if following.get(c) != partition_key]
    if not waiting:
        return []
    recent = catalog.clips_starting(waiting, min(start, now - max(LIVE_WITHIN, catalog.layout.longest_clip)),
                                    now + MINUTE)
    live = [camera_id for camera_id in waiting if recent.clips[camera_id]]
    return [FollowRequest(partition_key, tuple(live[i:i + cameras_per_run]))
            for i in range(0, len(live), cameras_per_run)]
