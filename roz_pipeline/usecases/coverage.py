"""Which minutes of a camera lack footage: `roz gaps`, the `recent_gaps` check (and any page that shows coverage).

For a motion-only camera (registry `recording: motion`) a minute without clips is a quiet one, not missing footage,
and a partly covered minute is the usual case (a 10 s segment with motion): neither is a gap."""

from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from roz_pipeline.core.minutes import FULL_MINUTE_SECONDS
from roz_pipeline.core.timesteps import MINUTE, floor, runs
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import MinuteCoverage, uncovered_minutes


@dataclass(frozen=True)
class Coverage:
    missing: list[datetime]  # minutes without a row whose footage is not in the store either
    waiting: list[datetime]  # minutes without a row whose footage is in the store: not processed yet
    partial: list[MinuteCoverage] = field(default_factory=list)  # rows with less than a full minute of footage
    quiet: list[datetime] = field(default_factory=list)  # a motion-only camera's minutes without clips
    motion_only: bool = False  # quiet and partly covered minutes are the camera's usual

    @property
    def complete(self) -> bool:
        """No footage is missing or waiting (a motion-only camera's quiet and partly covered minutes are complete)."""
        return not (self.missing or self.waiting or (self.partial and not self.motion_only))

    @property
    def gaps(self) -> list[tuple[datetime, datetime]]:
        """The missing minutes as (first, last) ranges."""
        return runs(self.missing, MINUTE)

    @property
    def waiting_ranges(self) -> list[tuple[datetime, datetime]]:
        return runs(self.waiting, MINUTE)


def coverage(conn: psycopg.Connection, camera: Camera, start: datetime, end: datetime,
             waiting: set[datetime] = frozenset()) -> Coverage:
    """The minutes `start <= minute < end` of the camera without full footage; `waiting`: the minutes the clip
    inventory knows footage for that no run has read yet."""
    uncovered = uncovered_minutes(conn, camera.camera_id, floor(start, MINUTE), end, FULL_MINUTE_SECONDS)
    without_row = [m.minute for m in uncovered if not m.covered_seconds]
    not_waiting = [m for m in without_row if m not in waiting]
    quiet = not_waiting if camera.motion_only else []
    return Coverage([] if camera.motion_only else not_waiting, [m for m in without_row if m in waiting],
                    [m for m in uncovered if m.covered_seconds], quiet, camera.motion_only)


def minutes_in(first: datetime, last: datetime) -> int:
    """The minutes of the range first..last, both included."""
    return int((last - first).total_seconds() // 60) + 1
