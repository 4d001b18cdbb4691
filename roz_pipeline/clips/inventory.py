"""The clips runs read, from the clip inventory: each window asked for is first made current by a discovery
(clips.discovery), then read from PostgreSQL. Answers as `ClipCatalog` does, so the use cases read either."""

from collections.abc import Callable
from datetime import datetime, timezone

import psycopg

from roz_pipeline.clips.catalog import ClipListing
from roz_pipeline.clips.discovery import ClipDiscovery
from roz_pipeline.clips.stores import ClipRef
from roz_pipeline.core.timesteps import MINUTE, steps
from roz_pipeline.storage import inventory
from roz_pipeline.storage.inventory import ClipRead


class ClipInventory:
    """`discovery`'s store as its inventory holds it. `following`: a run following a window in progress, which
    looks often and cheaply (S3 events drained instead of listing). `clock`: now, for the late window."""

    def __init__(self, discovery: ClipDiscovery, conn: psycopg.Connection, following: bool = False,
                 clock: Callable[[], datetime] | None = None):
        self.discovery, self.conn, self.following = discovery, conn, following
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.catalog = discovery.catalog
        self.store, self.layout = self.catalog.store, self.catalog.layout

    def clips_starting(self, camera_ids, start: datetime, end: datetime) -> ClipListing:
        """The cameras' clips whose first frame is in `start <= t < end`, and the problems found on the way."""
        camera_ids = list(camera_ids)
        self._refresh(camera_ids, start, end)
        return self._listing(camera_ids, inventory.clips_starting(self.conn, self.discovery.store_id,
                                                                  self._names(camera_ids), start, end))

    def clips_for_window(self, camera_ids, start: datetime, end: datetime) -> ClipListing:
        """What a window of minutes reads: its clips, after the last clip starting up to the layout's longest clip
        before it (ClipCatalog.clips_for_window)."""
        camera_ids = list(camera_ids)
        self._refresh(camera_ids, start, end)
        names, store = self._names(camera_ids), self.discovery.store_id
        before = inventory.last_clips_before(self.conn, store, names, start - self.layout.longest_clip, start)
        return self._listing(camera_ids, before + inventory.clips_starting(self.conn, store, names, start, end))

    def waiting_minutes(self, camera_id: str, start: datetime, end: datetime, look: bool = True) -> set[datetime]:
        """The minutes of `start <= t < end` that clips no run has read cover: from an unread clip's start to the
        next clip's start (at most the layout's longest clip), or its start's minute when no clip follows.
        `look=False` reads the inventory as the sensors left it, writing nothing (the explorer)."""
        longest = self.layout.longest_clip
        if look:
            self._refresh([camera_id], start - longest, end)
        clips = inventory.clips_starting(self.conn, self.discovery.store_id, self._names([camera_id]),
                                         start - longest, end)
        waiting = set()
        for clip, following in zip(clips, [*clips[1:], None]):
            if not clip.unread:
                continue
            until = min(following.start, clip.start + longest) if following else clip.start + MINUTE
            waiting.update(m for m in steps(clip.start, until, MINUTE) if start <= m < end)
        return waiting

    def mark_read(self, reads: dict[str, tuple[str | None, datetime | None]]) -> None:
        """Record what a run read: key -> (the version read, the recording time it was read until; None: to its
        end)."""
        inventory.mark_read(self.conn, self.discovery.store_id, [
            ClipRead(key, version, until)
            for key, (version, until) in reads.items() if version is not None])

    def _refresh(self, camera_ids: list[str], start: datetime, end: datetime) -> None:
        look = self.discovery.poll if self.following else self.discovery.refresh
        look(self.conn, camera_ids, start, end, self.clock())

    def _names(self, camera_ids: list[str]) -> list[str]:
        return [self.catalog.sources_by_id[camera_id] for camera_id in camera_ids]

    def _listing(self, camera_ids: list[str], rows) -> ClipListing:
        listing = ClipListing({camera_id: [] for camera_id in camera_ids}, self.discovery.new_problems())
        ids = self.catalog.ids_by_source
        for row in sorted(rows, key=lambda r: (r.start, r.key)):
            listing.clips[ids[row.camera_name]].append(
                ClipRef(row.key, ids[row.camera_name], row.start, self.store.locate(row.key), row.size, row.version))
        return listing
