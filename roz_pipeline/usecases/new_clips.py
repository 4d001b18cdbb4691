"""Which clips are new since the last look, and which partitions they feed: pure bookkeeping over a clip catalog.

The cursor keeps, per camera, the start of the newest clip handed to a run, plus the problems already reported
(bounded), so each problem is reported once. Each look lists only the hours from the oldest camera's cursor to now.
A clip feeds the partitions from its start to its estimated end: the next clip's start, at most the camera's typical
clip length (the median time between clip starts in the listing); a clip is handed over once all of them have ended.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipRef
from roz_pipeline.core.timesteps import MINUTE

MAX_REMEMBERED_PROBLEMS = 500  # bounds the cursor; an older problem may be reported again


@dataclass(frozen=True)
class PartitionSlot:
    """A Dagster partition, as plain values: its key and its window."""

    key: str
    start: datetime
    end: datetime


@dataclass
class NewClipsCursor:
    taken: dict[str, str] = field(default_factory=dict)  # camera -> ISO start of the newest clip handed to a run
    reported: list[str] = field(default_factory=list)  # problems already reported, oldest first

    @classmethod
    def from_json(cls, data: dict | None) -> "NewClipsCursor":
        return cls(dict((data or {}).get("taken", {})), list((data or {}).get("reported", [])))

    def to_json(self) -> dict:
        return {"taken": self.taken, "reported": self.reported}


@dataclass
class NewClipsScan:
    partition_keys: dict[str, list[str]]  # camera -> partitions new clips feed, all of them ended
    new_problems: list[str]  # problems not reported before, in the order found
    cursor: NewClipsCursor


def scan_new_clips(catalog: ClipCatalog, camera_ids: list[str], cursor: NewClipsCursor,
                   slots: Callable[[str, datetime, datetime], list[PartitionSlot] | None],
                   first_partition: Callable[[str], datetime], now: datetime) -> NewClipsScan:
    """The partitions each camera's new clips feed, and the cursor after them.

    `slots(camera, start, end)` gives the camera's partitions overlapping `start <= t < end`, None when `start` is
    before its first partition (reported as a problem); a camera's first look starts at `first_partition(camera)`.
    Raises ClipStoreError when the store cannot be listed.
    """
    taken = {camera: datetime.fromisoformat(cursor.taken[camera]) for camera in camera_ids if camera in cursor.taken}
    since = min([taken.get(camera) or first_partition(camera) for camera in camera_ids], default=now)
    listing = catalog.clips_starting(camera_ids, since, now + MINUTE)
    problems = catalog.root_problems() + [problem.message for problem in listing.problems]
    partition_keys: dict[str, list[str]] = {}
    new_taken = dict(cursor.taken)
    for camera_id in camera_ids:
        clips = listing.clips[camera_id]
        after = taken.get(camera_id)
        keys = []
        for index, clip in enumerate(clips):
            if after is not None and clip.start <= after:
                continue
            fed = slots(camera_id, clip.start, _estimated_end(clips, index))
            if fed is None:
                problems.append(f"{clip.key}: before the camera's first partition (ROZ_PARTITIONS_START or retention)")
            elif any(slot.end > now for slot in fed):
                break  # a partition exists once its window has ended: take this clip on a later look
            else:
                keys += [slot.key for slot in fed if slot.key not in keys]
            new_taken[camera_id] = clip.start.isoformat()
        partition_keys[camera_id] = keys
    reported = set(cursor.reported)
    new = [problem for problem in dict.fromkeys(problems) if problem not in reported]
    return NewClipsScan(partition_keys, new, NewClipsCursor(new_taken, (cursor.reported + new)[-MAX_REMEMBERED_PROBLEMS:]))


def _estimated_end(clips: list[ClipRef], index: int) -> datetime:
    """Where clip `index` probably ends: the next clip's start, at most the typical time between clip starts."""
    clip = clips[index]
    gaps = [b.start - a.start for a, b in zip(clips, clips[1:])]
    typical = statistics.median(gaps) if gaps else timedelta(0)
    end = clip.start + typical
    if index + 1 < len(clips):
        end = min(end, clips[index + 1].start)
    return max(end, clip.start + timedelta(microseconds=1))
