"""What the clip store holds that no run has read yet, and which runs that asks for. No Dagster.

A tick first brings the clip inventory up to date at the cost of what changed (clips.discovery), then asks it one
indexed question: which ended partitions of the late window (the last `late_window`, 7 days by default) hold footage
no run has read, from the clip's current version to its end. Each such partition gets a run whose key derives from
the inputs it will read (the keys, sizes and versions of the clips feeding it): a redelivered tick asks for the same
run, new inputs always get a new one. At most `max_runs` runs per tick, newest first: a backlog becomes runs over
several ticks, and live data is not starved. The cursor holds only discovery's places in its turns through the
late window (DiscoveryState) and the partitions asked for that no run has read yet (at most
MAX_REMEMBERED_REQUESTS).

The partition in progress is left to the run following it (usecases.live, at the hour grain); it is checked like
the others once it has ended and settled.
"""

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from roz_pipeline.clips.catalog import ClipProblem, fingerprint
from roz_pipeline.clips.discovery import ClipDiscovery, DiscoveryState
from roz_pipeline.core.timesteps import STEPS, floor
from roz_pipeline.storage import inventory

# Bounds the cursor (~60 bytes an entry); a partition forgotten is asked for again under the same run key, which
# Dagster skips.
MAX_REMEMBERED_REQUESTS = 600
REMEMBERED_DIGITS = 16  # of an inputs fingerprint: as many as the run key holds


@dataclass(frozen=True)
class PartitionSlot:
    """A Dagster partition, as plain values: its key and its window."""

    key: str
    start: datetime
    end: datetime


@dataclass
class NewClipsCursor:
    discovery: DiscoveryState = field(default_factory=DiscoveryState)
    requested: dict[str, str] = field(default_factory=dict)  # "camera partition" -> inputs fingerprint asked for

    @classmethod
    def from_json(cls, data: dict | None) -> "NewClipsCursor":
        data = data or {}
        return cls(DiscoveryState.from_json(data), dict(data.get("requested", {})))

    def to_json(self) -> dict:
        return {**self.discovery.to_json(), "requested": self.requested}


@dataclass
class NewClipsScan:
    read: dict[str, dict[str, str]]  # camera -> partition key -> fingerprint of the inputs a run must read
    new_problems: list[str]  # problems recorded for the first time, in the order found
    errors: list[str]  # what the store or its event queue could not do this tick
    cursor: NewClipsCursor


def scan_new_clips(discovery: ClipDiscovery, conn: psycopg.Connection, camera_ids: list[str], cursor: NewClipsCursor,
                   slot: Callable[[str, datetime], PartitionSlot | None], grain: str, now: datetime,
                   settle: timedelta, max_partitions: int) -> NewClipsScan:
    """The partitions of the discovery's late window to run, newest first and at most `max_partitions`, and the
    cursor after them.

    `slot(camera, t)` is the camera's partition holding `t` (None before its first partition: reported as a
    problem); partitions of `grain` (hour or minute) settle `settle` after their end. Raises ClipStoreError when the
    store cannot be listed.
    """
    catalog = discovery.catalog
    state = discovery.tick(conn, camera_ids, now, cursor.discovery)
    names = {catalog.sources_by_id[camera_id]: camera_id for camera_id in camera_ids}
    since, before = now - discovery.late_window, floor(now - settle, STEPS[grain])
    periods = inventory.unread_periods(conn, discovery.store_id, list(names), grain, since, before,
                                       since - catalog.layout.longest_clip, max_partitions + len(cursor.requested))
    wanted: list[tuple[str, PartitionSlot]] = []  # newest first
    for period in periods:
        found = slot(names[period.camera_name], period.start)
        if found is None:
            discovery.record(conn, [ClipProblem(period.first_key, f"{period.first_key}: before the camera's first "
                                                "partition (ROZ_PARTITIONS_START or retention)")])
        elif (names[period.camera_name], found) not in wanted:
            wanted.append((names[period.camera_name], found))
    inputs = {camera_id: _inputs(conn, discovery, catalog.sources_by_id[camera_id],
                                 sorted({s for c, s in wanted if c == camera_id}, key=lambda s: s.start))
              for camera_id in dict.fromkeys(camera_id for camera_id, _ in wanted)}
    scan = NewClipsScan({}, [p.message for p in discovery.new_problems()], discovery.take_errors(),
                        NewClipsCursor(state))
    for camera_id, found in wanted:
        remembered, inputs_now = f"{camera_id} {found.key}", inputs[camera_id][found.key]
        if cursor.requested.get(remembered) == inputs_now[:REMEMBERED_DIGITS]:  # asked for already, not read yet
            scan.cursor.requested[remembered] = inputs_now[:REMEMBERED_DIGITS]
        elif sum(map(len, scan.read.values())) < max_partitions:
            scan.read.setdefault(camera_id, {})[found.key] = inputs_now
            scan.cursor.requested[remembered] = inputs_now[:REMEMBERED_DIGITS]
    scan.cursor.requested = dict(list(scan.cursor.requested.items())[:MAX_REMEMBERED_REQUESTS])
    return scan


def _inputs(conn: psycopg.Connection, discovery: ClipDiscovery, camera_name: str,
            slots: list[PartitionSlot]) -> dict[str, str]:
    """Each slot's inputs fingerprint: the clips a run of it reads (those starting in it, after the last clip
    starting up to the layout's longest clip before it), from one query for all the slots."""
    longest = discovery.catalog.layout.longest_clip
    clips = inventory.clips_starting(conn, discovery.store_id, [camera_name], slots[0].start - longest, slots[-1].end)
    starts = [clip.start for clip in clips]
    result = {}
    for slot in slots:
        first, end = bisect.bisect_left(starts, slot.start), bisect.bisect_left(starts, slot.end)
        fed = clips[first:end]
        if first and starts[first - 1] >= slot.start - longest:
            fed = [clips[first - 1], *fed]
        result[slot.key] = fingerprint(fed)
    return result
