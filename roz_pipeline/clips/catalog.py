"""A clip store seen through a layout and the camera registry: which clips each camera has in a time window.

Listing reads only the key prefixes of the window's hours (plus the layout's longest clip before it, for a clip
that started earlier and runs into the window), so its cost follows the window asked for, not the store's size.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from roz_pipeline.clips.layout import ClipLayout, LayoutError
from roz_pipeline.clips.stores import ClipRef, ClipStore, StoredKey
from roz_pipeline.registry import Camera


@dataclass(frozen=True)
class ClipProblem:
    key: str
    message: str
    camera_name: str | None = None  # a clip of a camera the registry does not have (yet)
    start: datetime | None = None  # ... and when it started


@dataclass
class ClipListing:
    clips: dict[str, list[ClipRef]] = field(default_factory=dict)  # camera_id -> clips by start, then key
    problems: list[ClipProblem] = field(default_factory=list)  # keys that fit no registered camera's layout


class ClipCatalog:
    """`store` (roz_pipeline.clips.stores) read with `layout`; `cameras` maps the registry's cameras by id."""

    def __init__(self, store: ClipStore, layout: ClipLayout, cameras: Iterable[Camera]):
        self.store = store
        self.layout = layout
        self.ids_by_source = {camera.name_in_store: camera.camera_id for camera in cameras}
        self.sources_by_id = {camera_id: source for source, camera_id in self.ids_by_source.items()}

    def clips_starting(self, camera_ids: Iterable[str], start: datetime, end: datetime) -> ClipListing:
        """The cameras' clips whose first frame is in `start <= t < end`, and the problems found on the way."""
        camera_ids = list(camera_ids)
        prefixes = self.layout.prefixes([self.sources_by_id[c] for c in camera_ids], start, end)
        listing = ClipListing({camera_id: [] for camera_id in camera_ids})
        seen = set()
        for prefix in prefixes:
            for stored in self.store.keys(prefix):
                if stored.key in seen:
                    continue
                seen.add(stored.key)
                found = self.classify(stored)
                if isinstance(found, ClipProblem):
                    listing.problems.append(found)
                elif found.camera_id in listing.clips and start <= found.start < end:
                    listing.clips[found.camera_id].append(found)
        for clips in listing.clips.values():
            clips.sort(key=lambda clip: (clip.start, clip.key))
        return listing

    def classify(self, stored: StoredKey) -> "ClipRef | ClipProblem":
        """What a stored key is: a registered camera's clip, or a problem naming the key."""
        if stored.problem:
            return ClipProblem(stored.key, f"{stored.key}: {stored.problem}")
        try:
            name = self.layout.parse(stored.key)
        except LayoutError as exc:
            return ClipProblem(stored.key, str(exc))
        camera_id = self.ids_by_source.get(name.camera)
        if camera_id is None:
            return ClipProblem(stored.key, f"{stored.key!r}: camera {name.camera!r} is not in the registry (or is no "
                                           "camera's source_name)", name.camera, name.start)
        return ClipRef(stored.key, camera_id, name.start, self.store.locate(stored.key), stored.size, stored.version)

    def clip_of(self, key: str) -> ClipRef | None:
        """The registered camera's clip that `key` names, None for another camera's; LayoutError for a key the layout
        refuses (hostile ones included). Whether the store holds it is not asked."""
        name = self.layout.parse(key)
        camera_id = self.ids_by_source.get(name.camera)
        return None if camera_id is None else ClipRef(key, camera_id, name.start, self.store.locate(key))

    def clips_for_window(self, camera_ids: Iterable[str], start: datetime, end: datetime) -> ClipListing:
        """What a window of minutes `start <= t < end` reads, per camera: its clips starting in the window, and the
        last clip starting up to the layout's longest clip before it (it may run into the window, and it warms the
        motion detector up for the window's first frame)."""
        camera_ids = list(camera_ids)
        before = self.clips_starting(camera_ids, start - self.layout.longest_clip, start)
        listing = self.clips_starting(camera_ids, start, end)
        for camera_id in camera_ids:
            listing.clips[camera_id][:0] = before.clips[camera_id][-1:]
        listing.problems[:0] = before.problems
        return listing

    def root_problems(self) -> list[ClipProblem]:
        """Folders of unregistered cameras, files outside camera folders, and files directly in a camera's folder
        when the layout puts clips in folders below it (layouts that start with the camera's folder; other layouts
        report unknown cameras from their listings)."""
        if not self.layout.camera_first:
            return []
        folders, stray = self.store.top_level()
        problems = [ClipProblem(f"{name}/", f"{name}/: camera is not in the registry", name)
                    for name in folders if name not in self.ids_by_source]
        problems += [ClipProblem(name, f"{name}: not inside a camera folder") for name in stray]
        if self.layout.template.count("/") > 1:
            for source in self.ids_by_source:
                problems += [ClipProblem(f"{source}/{name}", f"{source}/{name}: not inside a folder of the layout "
                                                             f"{self.layout.describe()}")
                             for name in self.store.top_level(source)[1]]
        return problems


def fingerprint(clips: Iterable[ClipRef]) -> str:
    """sha256 of the clips' keys, sizes and versions: the same clips give the same fingerprint."""
    text = "\n".join(f"{clip.key}\t{clip.size}\t{clip.version}" for clip in sorted(clips, key=lambda c: c.key))
    return hashlib.sha256(text.encode()).hexdigest()
