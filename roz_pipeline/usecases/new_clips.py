"""What the clip store holds that no run has read yet, and which runs that asks for: pure bookkeeping over a clip
catalog and the stored minutes. No Dagster.

Each look lists the late window (the last `late_window`, 7 days by default) for every camera: a clip that lands
late or out of order is found wherever it falls in it. Per camera and partition the cursor keeps a fingerprint of
the clips that feed the partition (their keys and sizes); when it changes, the partition's clips are checked
against what its stored minutes were built from (heatmap_minute_sources), and a partition with unread clips gets a
run whose key is derived from that fingerprint: the same inputs never run twice, new inputs always run.

The partition in progress is left to the run following it (usecases.live, at the hour grain); it is checked like
the others once it has ended and settled.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from roz_pipeline.clips.catalog import ClipCatalog, fingerprint
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
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # camera -> partition -> inputs fingerprint
    reported: list[str] = field(default_factory=list)  # problems already reported, oldest first

    @classmethod
    def from_json(cls, data: dict | None) -> "NewClipsCursor":
        data = data or {}
        return cls({camera: dict(p) for camera, p in data.get("inputs", {}).items()}, list(data.get("reported", [])))

    def to_json(self) -> dict:
        return {"inputs": self.inputs, "reported": self.reported}


@dataclass
class NewClipsScan:
    read: dict[str, dict[str, str]]  # camera -> partition key -> fingerprint of the inputs a run must read
    new_problems: list[str]  # problems not reported before, in the order found
    cursor: NewClipsCursor


def scan_new_clips(catalog: ClipCatalog, camera_ids: list[str], cursor: NewClipsCursor,
                   slots: Callable[[str, datetime, datetime], list[PartitionSlot] | None],
                   unread: Callable[[str, PartitionSlot, list[ClipRef]], list[ClipRef]],
                   now: datetime, late_window: timedelta, settle: timedelta) -> NewClipsScan:
    """The runs the store's clips of the last `late_window` ask for, and the cursor after them.

    `slots(camera, start, end)` gives the camera's partitions overlapping `start <= t < end` (None when `start` is
    before its first partition: reported as a problem); `unread(camera, slot, clips)` the clips among `clips` that
    no stored minute of the slot (or of the longest clip before it) was built from. A partition is in progress
    until `settle` after its end. Raises ClipStoreError when the store cannot be listed.
    """
    since = now - late_window
    longest = catalog.layout.longest_clip
    listing = catalog.clips_starting(camera_ids, since - longest, now + MINUTE)
    problems = catalog.root_problems() + [problem.message for problem in listing.problems]
    scan = NewClipsScan({}, [], NewClipsCursor({}, []))
    for camera_id in camera_ids:
        clips = listing.clips[camera_id]
        known = cursor.inputs.get(camera_id, {})
        fed: dict[str, tuple[PartitionSlot, list[ClipRef]]] = {}
        for index, clip in enumerate(clips):
            reached = slots(camera_id, clip.start, _estimated_end(clips, index))
            if reached is None:
                if clip.start >= since:
                    problems.append(f"{clip.key}: before the camera's first partition (ROZ_PARTITIONS_START or "
                                    "retention)")
                continue
            for slot in reached:
                fed.setdefault(slot.key, (slot, []))[1].append(clip)
        inputs = {}
        for key, (slot, fed_clips) in sorted(fed.items()):
            if slot.end <= since:
                continue
            if slot.end + settle > now:  # in progress
                continue
            inputs[key] = fingerprint(fed_clips)
            if known.get(key) != inputs[key] and unread(camera_id, slot, fed_clips):
                scan.read.setdefault(camera_id, {})[key] = inputs[key]
        scan.cursor.inputs[camera_id] = inputs
    reported = set(cursor.reported)
    scan.new_problems = [problem for problem in dict.fromkeys(problems) if problem not in reported]
    scan.cursor.reported = (cursor.reported + scan.new_problems)[-MAX_REMEMBERED_PROBLEMS:]
    return scan


def _estimated_end(clips: list[ClipRef], index: int) -> datetime:
    """Where clip `index` probably ends: the next clip's start, at most the typical time between clip starts."""
    clip = clips[index]
    gaps = [b.start - a.start for a, b in zip(clips, clips[1:])]
    typical = statistics.median(gaps) if gaps else timedelta(0)
    end = clip.start + typical
    if index + 1 < len(clips):
        end = min(end, clips[index + 1].start)
    return max(end, clip.start + timedelta(microseconds=1))
