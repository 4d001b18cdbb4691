"""Following a window in progress: one run per camera-hour keeps listing the hour's clips as they land, decodes each
new clip once, and writes every minute as soon as its footage is in, until the hour has ended and settled. No
Dagster.

A minute is written when the footage has moved past it (the next clip's first frame), or MINUTE_SETTLE after it
ended when no later footage came (the recorder stopped). A clip that lands out of order, before footage already
read, has its minutes read again with it, up to the minute of the next clip read before (where the motion
detector's state joins the footage already written); the rest stands. After the window has ended, SETTLE more for its last clips; later arrivals are the
sensor's (a run for the hour's new inputs).
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipRef
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.processing import MinuteRecorder, WindowReader, WindowReport

POLL = timedelta(seconds=15)  # how often the store is listed while following
MINUTE_SETTLE = timedelta(seconds=60)  # a minute is written at the latest this long after it ended
SETTLE = timedelta(seconds=90)  # after the window has ended: how long its last clips may take to land


def follow_window(camera: Camera, catalog: ClipCatalog, conn: psycopg.Connection, start: datetime, end: datetime,
                  clock: Callable[[], datetime], sleep: Callable[[float], None], log=None) -> WindowReport:
    """Write the camera's minutes of `start <= t < end` while its clips land, until `end + SETTLE`."""
    camera_id = camera.camera_id
    recorder = MinuteRecorder(conn, camera, log)
    reader = WindowReader(catalog.store, camera, start, end, log)
    read: dict[str, int | None] = {}  # key -> size of every clip read
    while True:
        listed_at = clock()
        listing = catalog.clips_for_window(camera_id, start, end)
        recorder.problems(listing.problems)
        clips = listing.clips[camera_id]
        new = [clip for clip in clips if read.get(clip.key, -1) != clip.size]
        late = [clip for clip in new if clip.start < reader.position or recorder.recorded(floor(clip.start, MINUTE))]
        if late:
            _read_again(camera, catalog, recorder, clips, late, start, end, listed_at, log)
        for found in reader.read([clip for clip in new if clip not in late]):
            recorder.record(found, clips, listed_at)
        read.update((clip.key, clip.size) for clip in new)
        settled = listed_at >= end + SETTLE
        for found in reader.flush(None if settled else floor(listed_at - MINUTE_SETTLE, MINUTE)):
            recorder.record(found, clips, listed_at)
        if settled:
            return recorder.finish(start, end)
        sleep(POLL.total_seconds())


def _read_again(camera: Camera, catalog: ClipCatalog, recorder: MinuteRecorder, clips: list[ClipRef],
                late: list[ClipRef], start: datetime, end: datetime, listed_at: datetime, log) -> None:
    """Read the minutes the late clips fall in again, with every clip there, up to the minute of the next clip
    that was read before (where the motion state joins the minutes already written)."""
    since = max(start, floor(min(clip.start for clip in late), MINUTE))
    after = [clip for clip in clips if clip.start > max(c.start for c in late)]
    until = min(end, floor(after[0].start if after else end, MINUTE) + MINUTE)
    recorder.forget(since, until)
    if log:
        log.info(f"{camera.camera_id}: {len(late)} clip(s) landed out of order; reading "
                 f"{since:%H:%M}-{until:%H:%M} again")
    span = [clip for clip in clips if clip.start < since][-1:] + [c for c in clips if since <= c.start < until]
    reader = WindowReader(catalog.store, camera, since, until, log)
    for found in [*reader.read(span), *reader.flush()]:
        recorder.record(found, clips, listed_at)
