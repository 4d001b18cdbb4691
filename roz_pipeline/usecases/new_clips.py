"""Which clips are new since the last look, as pure bookkeeping over a clip store. No Dagster.

The cursor keeps, per camera, the last clip key handed to a run (keys sort by day and minute), plus the problems
already reported (bounded), so each problem is reported once.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from roz_pipeline.clips.stores import top_level_problems

MAX_REMEMBERED_PROBLEMS = 500  # bounds the cursor; an older problem may be reported again


@dataclass(frozen=True)
class PartitionSlot:
    """The Dagster partition holding a minute, as plain values: its key and its window."""

    key: str
    start: datetime
    end: datetime


@dataclass
class NewClipsCursor:
    after: dict[str, str] = field(default_factory=dict)  # camera -> last clip key handed to a run
    reported: list[str] = field(default_factory=list)  # problems already reported, oldest first

    @classmethod
    def from_json(cls, data: dict | None) -> "NewClipsCursor":
        return cls(dict((data or {}).get("after", {})), list((data or {}).get("reported", [])))

    def to_json(self) -> dict:
        return {"after": self.after, "reported": self.reported}


@dataclass
class NewClipsScan:
    partition_keys: dict[str, list[str]]  # camera -> partitions with new clips whose windows have ended
    new_problems: list[str]  # problems not reported before, in the order found
    cursor: NewClipsCursor


def scan_new_clips(store, camera_ids: list[str], cursor: NewClipsCursor,
                   slot_of: Callable[[str, datetime], PartitionSlot | None], now: datetime) -> NewClipsScan:
    """The partitions each camera's new clips fall in, and the cursor after them.

    `slot_of(camera, minute)` is the partition holding the minute, None when it is before the camera's first
    partition (reported as a problem). A clip whose partition has not ended by `now` stays for a later scan, and
    so do the clips after it. Raises ClipStoreError when the store cannot be listed.
    """
    problems = top_level_problems(store, camera_ids)
    after = dict(cursor.after)
    partition_keys: dict[str, list[str]] = {}
    for camera_id in camera_ids:
        listing = store.clips_after(camera_id, after.get(camera_id))
        problems += [p.message for p in listing.problems]
        keys = []
        for clip in listing.clips:
            slot = slot_of(camera_id, clip.minute)
            if slot is None:
                problems.append(f"{clip.key}: before the camera's first partition (ROZ_PARTITIONS_START or retention)")
            elif slot.end > now:
                break  # the partition exists once its window has ended: take this clip on a later scan
            else:
                keys.append(slot.key)
            after[camera_id] = clip.key
        partition_keys[camera_id] = keys
    reported = set(cursor.reported)
    new = [problem for problem in dict.fromkeys(problems) if problem not in reported]
    return NewClipsScan(partition_keys, new,
                        NewClipsCursor(after, (cursor.reported + new)[-MAX_REMEMBERED_PROBLEMS:]))
