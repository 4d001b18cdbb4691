"""Discovery in a local folder (NFS and SMB mounts too, where inotify sees nothing): watermarks per folder of the
layout (clips/discovery.py says how a tick looks)."""

import hashlib
from bisect import bisect_right
from datetime import datetime, timedelta, timezone

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.discovery import RECENT, ClipDiscovery, Rotation
from roz_pipeline.clips.stores import FolderStat, LocalClipStore, StoredKey
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.storage import clip_folders, clip_problems, inventory
from roz_pipeline.storage.clip_folders import FolderMark

SWEEP_PERIOD = timedelta(minutes=5)  # local folders older than RECENT are stat'ed in turn, each this often
RACY = timedelta(seconds=3)  # a folder changed this close to its listing is listed again (coarse timestamps)
STILL_WRITING = timedelta(minutes=2)  # a file modified this recently may still grow: stat'ed again on every look


class FolderDiscovery(ClipDiscovery):
    """A local folder: folders listed only when their marks changed."""

    store: LocalClipStore

    def __init__(self, catalog: ClipCatalog, reconcile_hours: float, late_window: timedelta, clock=None):
        super().__init__(catalog, reconcile_hours, late_window, clock)
        self.store = catalog.store

    def _recent(self, conn, camera_ids, now, since, sweep) -> Rotation:
        """The recent hours' folders every tick, and the next hours of the sweep through the older ones, so that a
        clip landing late in an old folder is found within SWEEP_PERIOD, whatever the history."""
        super()._recent(conn, camera_ids, now, since, sweep)
        edge = floor(now - RECENT - self.catalog.layout.longest_clip, HOUR)  # the recent look's first hour
        rotation, _ = self._rotate(conn, sweep, now, since, edge, SWEEP_PERIOD,
                                   lambda hour: [self._hour_prefixes(camera_ids, hour)], force=False,
                                   first_credit=None)
        return rotation

    def _look_recent(self, conn, prefixes, reach) -> None:
        folders, examined = self._look(conn, prefixes, reach, force=False)
        self._recheck_growing(conn, folders, examined, reach)

    def _look(self, conn, prefixes, reach, force) -> tuple[list[str], set[str]]:
        """(the prefixes' folders, the keys stat'ed)."""
        folders = sorted({prefix[:prefix.rfind("/") + 1] for prefix in prefixes})
        marks = clip_folders.folder_marks_under(conn, self.store_id, folders)
        pending = sorted(set(folders) | set(marks))
        seen, whole, appended, new_marks, gone = set(pending), {}, {}, [], []
        while pending:  # the window's folders and every folder below them (Frigate's camera folders)
            folder = pending.pop()
            stat = self.store.folder_stat(folder)
            self.counts.folders_checked += 1
            mark = marks.get(folder)
            if stat is None:
                if mark is not None:
                    gone.append(folder)
                continue
            if not (force or _changed(mark, stat)):
                continue
            listed_at = self.wall()  # after the stat: an entry added meanwhile changes the marks again
            files, subfolders = self.store.entries(folder)
            self.counts.listings += 1
            names = sorted(files)
            added = None if force else _appended(mark, names)
            if added is None:
                whole[folder] = names
            else:
                appended[folder] = added
            new_marks.append(FolderMark(folder, stat.mtime_ns, stat.ctime_ns, listed_at, len(names),
                                        names[-1] if names else None, names_digest(names)))
            for name in subfolders:
                if f"{folder}{name}/" not in seen:
                    seen.add(f"{folder}{name}/")
                    pending.append(f"{folder}{name}/")
        observed_at, examined = self.wall(), set()
        if whole or appended or gone:
            compared = [*whole, *gone]  # folders compared with every clip the inventory holds in them
            new_keys = [f"{folder}{name}" for folder, names in appended.items() for name in names]
            present = {f"{folder}{name}" for folder, names in whole.items() for name in names} | set(new_keys)
            known = inventory.keys_under(conn, self.store_id, compared, direct=True) if compared else {}
            known.update(inventory.versions_of(conn, self.store_id, new_keys))
            self.counts.keys_compared += len(present)
            examined = {key for key in present if key not in known}
            examine = [stored for key in sorted(examined) for stored in [self._stat(key)] if stored is not None]
            problems = clip_problems.problems_under(conn, self.store_id, compared, True) if compared else set()
            self._apply(conn, present, examine, known, problems, reach, observed_at)
            clip_folders.forget_folders(conn, self.store_id, gone)
        clip_folders.save_folder_marks(conn, self.store_id, new_marks)
        return folders, examined

    def _slices(self, camera_ids, hour) -> list[list[str]]:
        """A camera's folders at a time (a folder shared by every camera would be listed with all of them)."""
        layout = self.catalog.layout
        return [layout.prefixes([self.catalog.sources_by_id[c]], hour, hour + HOUR) for c in camera_ids]

    def _recheck_growing(self, conn, folders: list[str], examined: set[str], reach: datetime) -> None:
        """A file still being written grows without changing its folder: the files of `folders` modified lately
        (at most STILL_WRITING ago, a few per camera whatever the history) and not just stat'ed are stat'ed
        again."""
        observed_at, window = self.wall(), tuple(folders)
        growing = {key: held for key, held in inventory.modified_since(
            conn, self.store_id, list(self.catalog.ids_by_source), observed_at - STILL_WRITING).items()
            if key.startswith(window) and key not in examined}
        if not growing:
            return
        now_held = {key: self._stat(key) for key in growing}
        self._apply(conn, {key for key, stored in now_held.items() if stored is not None},
                    [stored for stored in now_held.values() if stored is not None], growing, set(), reach, observed_at)

    def _check_root(self, conn, force) -> None:
        """The root's folder (and, for layouts with folders below the camera's, each camera's folder) is checked
        like any other: its entries are read again only when its marks changed."""
        if not self.catalog.layout.camera_first:
            return
        folders = [""] + ([f"{source}/" for source in self.catalog.ids_by_source]
                          if self.catalog.layout.template.count("/") > 1 else [])
        # Marks of their own ("@" + folder): a folder that also holds clips keeps its clip listing's marks apart.
        marks = clip_folders.folder_marks(conn, self.store_id, [f"@{folder}" for folder in folders])
        changed = []
        for folder in folders:
            stat = self.store.folder_stat(folder)
            self.counts.folders_checked += 1
            if stat is not None and (force or _changed(marks.get(f"@{folder}"), stat)):
                changed.append(FolderMark(f"@{folder}", stat.mtime_ns, stat.ctime_ns, self.wall()))
        if changed:
            self._record_root_problems(conn)
            clip_folders.save_folder_marks(conn, self.store_id, changed)

    def _stat(self, key: str) -> StoredKey | None:
        self.counts.files_checked += 1
        return self.store.stat_key(key)


def _changed(mark: FolderMark | None, stat: FolderStat) -> bool:
    """Whether a folder must be listed: never listed, its marks differ, or it changed so close to its listing
    that a change in the same timestamp tick would not show."""
    if mark is None or (mark.mtime_ns, mark.ctime_ns) != (stat.mtime_ns, stat.ctime_ns):
        return True
    return mark.listed_at - datetime.fromtimestamp(max(stat.mtime_ns, stat.ctime_ns) / 1e9, timezone.utc) < RACY


def _appended(mark: FolderMark | None, names: list[str]) -> list[str] | None:
    """The names (sorted) after the mark's last file, when the folder otherwise holds exactly the files of its last
    listing (a recorder appending); None when anything else changed (a file removed, an older name added) or the
    mark holds no summary."""
    if mark is None or mark.files_digest is None:
        return None
    kept = bisect_right(names, mark.last_file) if mark.last_file is not None else 0
    if kept != mark.file_count or names_digest(names[:kept]) != mark.files_digest:
        return None
    return names[kept:]


def names_digest(names: list[str]) -> str:
    """A digest of sorted file names (a folder's listing, in its mark)."""
    return hashlib.blake2b("\0".join(names).encode(), digest_size=12).hexdigest()
