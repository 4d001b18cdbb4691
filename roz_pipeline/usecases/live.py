"""Following a window in progress: one run follows several cameras' hour, listing their clips as they land, decoding
each new clip once, and writing every minute as soon as its footage is in, until the hour has ended and settled. No
Dagster.

A minute is written when the footage has moved past it (the next clip's first frame), or MINUTE_SETTLE after it
ended when no later footage came (the recorder stopped). A clip that lands out of order, before footage already
read, has its minutes read again with it, up to the minute of the next clip read before (where the motion
detector's state joins the footage already written); the rest stands. After the window has ended, SETTLE more for
its last clips; later arrivals are the sensor's (a run for the hour's new inputs).

A following run picks up what runs before it stored (a run that died, replaced by another): the minutes stored
from the clips still listed for them are kept, and reading starts at the first minute that is not (`resume_point`).

Which cameras a following run takes: the cameras that recorded lately (LIVE_WITHIN), in runs of at most
`cameras_per_run`, each camera followed once per window, and again when the run following it ended before the
window settled or stopped beating (HEARTBEAT_GRACE), at most FOLLOWS_PER_WINDOW times.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog, fingerprint
from roz_pipeline.clips.stores import ClipRef
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import BuiltMinute, built_minutes
from roz_pipeline.usecases.processing import MinuteRecorder, WindowReader, WindowReport, merge_reads

POLL = timedelta(seconds=15)  # how often the store is listed while following (back to back when reading takes longer)
MINUTE_SETTLE = timedelta(seconds=60)  # a minute is written at the latest this long after it ended
SETTLE = timedelta(seconds=90)  # after the window has ended: how long its last clips may take to land
LIVE_WITHIN = timedelta(minutes=10)  # a camera is live when a clip of it started this recently (or its longest clip)
PROGRESS_EVERY = timedelta(minutes=10)  # how often a following run reports the minutes written so far
HEARTBEAT_EVERY = timedelta(minutes=1)  # how often a following run says it is alive
HEARTBEAT_GRACE = timedelta(minutes=4)  # a following run silent this long has lost its process
FOLLOWS_PER_WINDOW = 3  # runs following one camera's window at most (a run that keeps dying is left to catch-up)


def follow_windows(cameras: list[Camera], catalog: ClipCatalog, conn: psycopg.Connection, start: datetime,
                   end: datetime, clock: Callable[[], datetime], sleep: Callable[[float], None],
                   log=None, progress: Callable[[dict[str, WindowReport]], None] | None = None,
                   heartbeat: Callable[[], None] | None = None) -> dict[str, WindowReport]:
    """Write the cameras' minutes of `start <= t < end` while their clips land, until `end + SETTLE`; each camera's
    report by id. One listing of the store per POLL serves every camera. Every PROGRESS_EVERY until the window has
    ended, `progress` gets each camera's report so far (minutes that could still be written are not missing);
    `heartbeat` is called every HEARTBEAT_EVERY, also while a long backlog is read."""
    beat = _Throttled(heartbeat, clock, HEARTBEAT_EVERY)
    followers = [_Follower(camera, catalog, conn, start, end, log, beat) for camera in cameras]
    reported: set[str] = set()
    progressed_at = start
    while True:
        listed_at = clock()
        beat()
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
                 end: datetime, log, beat: Callable[[], None]):
        self.camera, self.catalog, self.start, self.end, self.log, self.beat = camera, catalog, start, end, log, beat
        self.recorder = MinuteRecorder(conn, camera, log)
        self.stored = built_minutes(conn, camera.camera_id, start, end)  # what runs before this one wrote
        self.reader: WindowReader | None = None  # reads from the resume point, once the first listing is in
        self.warm_up_clip: str | None = None  # the clip started before the resume point: read first, never late
        self.read: dict[str, str | None] = {}  # key -> version of every clip read
        self.reads_again: dict = {}  # how far clips were read outside `reader`: again, or by runs before this one

    def take(self, listing, listed_at: datetime, settled: bool) -> None:
        """Read what `listing` (at `listed_at`) holds that is new, and write the minutes that are complete (all of
        them once the window has `settled`)."""
        clips = listing.clips[self.camera.camera_id]
        if self.reader is None:
            self._resume(clips)
        recorder, reader = self.recorder, self.reader
        new = [clip for clip in clips if clip.key not in self.read or self.read[clip.key] != clip.version]
        warming = self.warm_up_clip if self.warm_up_clip not in self.read else None
        late = [clip for clip in new if clip.key != warming
                and (clip.start < reader.position or recorder.recorded(floor(clip.start, MINUTE)))]
        if late:
            self._read_again(clips, late, listed_at)
        for found in reader.read([clip for clip in new if clip not in late]):
            recorder.record(found, clips, listed_at)
            self.beat()
        self.read.update((clip.key, clip.version) for clip in new)
        for found in reader.flush(None if settled else floor(listed_at - MINUTE_SETTLE, MINUTE)):
            recorder.record(found, clips, listed_at)

    def _resume(self, clips: list[ClipRef]) -> None:
        """Keep the minutes runs before this one stored from these clips; read from the first minute that is not."""
        resume = resume_point(self.stored, clips, self.start)
        kept = [minute for minute in self.stored if minute.row.timestamp < resume]
        self.recorder.carry(kept)
        before = [clip for clip in clips if clip.start < resume]
        self.warm_up_clip = before[-1].key if before else None
        self.read = {clip.key: clip.version for clip in before[:-1]}
        self.reader = WindowReader(self.catalog.store, self.camera, resume, self.end, self.log)
        merge_reads(self.reads_again, {clip.key: (clip.version, None) for clip in before[:-1]})
        if kept and self.log:
            self.log.info(f"{self.camera.camera_id}: kept {len(kept)} minute(s) stored before; reading from "
                          f"{resume:%H:%M}")

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
        report.reads = dict(self.reader.reads) if self.reader else {}
        merge_reads(report.reads, self.reads_again)
        return report


def resume_point(stored: list[BuiltMinute], clips: list[ClipRef], start: datetime) -> datetime:
    """Where a run following the window from `start` picks up the minutes `stored` before it: after the last one,
    or at the first minute whose clips (`clips`, listed now) are not those it was built from (changed, or landed
    since: a minute after it is only as good as the motion detector's state it was computed with)."""
    if not stored:
        return start
    listed = {clip.key: clip for clip in clips}
    point = stored[-1].row.timestamp + MINUTE
    built_from = set()
    for minute in stored:
        keys = [*minute.sources.clip_keys, *minute.sources.problem_clips]
        built_from.update(keys)
        now = [listed.get(key) for key in keys]
        if None in now or fingerprint(now) != minute.sources.inputs_fingerprint:
            point = min(point, minute.row.timestamp)
    landed_since = [clip.start for clip in clips if clip.key not in built_from and start <= clip.start < point]
    return max(start, min([point, *(floor(t, MINUTE) for t in landed_since)]))


class _Throttled:
    """Calls `call` at most once per `every` of `clock` (nothing without `call`)."""

    def __init__(self, call: Callable[[], None] | None, clock: Callable[[], datetime], every: timedelta):
        self.call, self.clock, self.every = call, clock, every
        self.last: datetime | None = None

    def __call__(self) -> None:
        if self.call is not None and (self.last is None or self.clock() - self.last >= self.every):
            self.last = self.clock()
            self.call()


@dataclass(frozen=True)
class FollowRequest:
    """A run to start: follow `camera_ids` through the window of partition `partition_key` (instead of the run
    `replaces`, which ended before the window settled)."""

    partition_key: str
    camera_ids: tuple[str, ...]
    replaces: str | None = None


@dataclass(frozen=True)
class FollowingRun:
    """A run following the window in progress, as the instance knows it."""

    run_id: str
    camera_ids: tuple[str, ...]
    state: str  # "waiting" (queued, starting), "following" (started), "done" (succeeded), "ended" (failed, canceled)
    created_at: datetime
    alive_at: datetime | None  # its last heartbeat, else when it started (None: not started)

    def silent(self, now: datetime) -> bool:
        """Started, and silent for longer than HEARTBEAT_GRACE: its process is gone (or hangs)."""
        return self.state == "following" and self.alive_at is not None and now - self.alive_at > HEARTBEAT_GRACE


def cameras_to_follow_again(runs: list[FollowingRun], partition_key: str) -> list[FollowRequest]:
    """For each run that ended before its window settled (`runs`: the window's following runs), a run for its cameras
    whose newest following run it is, unless FOLLOWS_PER_WINDOW runs followed them already."""
    newest: dict[str, FollowingRun] = {}
    follows: dict[str, int] = {}
    for run in sorted(runs, key=lambda r: r.created_at):
        for camera_id in run.camera_ids:
            newest[camera_id] = run
            follows[camera_id] = follows.get(camera_id, 0) + 1
    requests = []
    for run in runs:
        again = tuple(c for c in run.camera_ids if newest[c] is run and follows[c] < FOLLOWS_PER_WINDOW)
        if run.state == "ended" and again:
            requests.append(FollowRequest(partition_key, again, replaces=run.run_id))
    return requests


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
