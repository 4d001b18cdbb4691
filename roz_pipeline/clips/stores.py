"""Clip stores: a local folder (here) or an S3 bucket (clips/s3_store.py), with the same few operations (ClipStore:
list the keys under a prefix, list the root's entries, give a clip as a local file, to a browser, and say how new
clips are discovered). Another store (Azure, GCS, a recorder's API) is one more class with ClipStore's methods.

A local folder is read as its real path: a symbolic link is followed only to a file inside it, so nothing the
folder links to elsewhere is read, rendered or served (such a key is listed with the store's `problem`, which the
catalog reports like any other key it cannot use); a link to a folder is not followed.
"""

import os
import stat as file_mode
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the discoveries read a store: imported by the store's discovery() when it is asked
    from roz_pipeline.clips.catalog import ClipCatalog
    from roz_pipeline.clips.discovery import ClipDiscovery


@dataclass(frozen=True)
class ClipRef:
    """A clip in a store: its key relative to the root/prefix, the Roz camera, and when its first frame was recorded."""

    key: str
    camera_id: str
    start: datetime  # UTC, from the key
    video_path: str  # where it is, for people and as heatmap_minutes.video_path stores it (path or s3://bucket/key)
    size: int | None = None  # bytes, when the listing says
    version: str | None = None  # the store's version of it (ETag, or mtime and size), when the listing says


class ClipStoreError(Exception):
    """The store could not be read (missing root, access denied); the message names the key or the store."""


class ClipMissingError(ClipStoreError):
    """A listed clip was gone when it was fetched: its footage counts as missing."""


@dataclass(frozen=True)
class StoredKey:
    key: str  # relative to the root or prefix
    size: int
    version: str  # S3: the ETag; local: the file's mtime (ns) and size, which change when it is rewritten
    modified_at: datetime
    problem: str | None = None  # why the store will not read it (a link leading outside a local folder)


@dataclass(frozen=True)
class FolderStat:
    """A local folder's change marks: its mtime and ctime (ns). `rsync -a` sets a copied folder's mtime to the
    source's, but nothing sets its ctime: comparing both for change finds every added or removed entry."""

    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True)
class Playable:
    """How a browser plays a clip: from `url` (the store serves it), or from the open file `descriptor`, which `path`
    opens too (the app serves it, and closes the descriptor)."""

    url: str | None = None
    descriptor: int | None = None
    path: str | None = None


class ClipStore(Protocol):
    """What the catalog, the discoveries, the processing and the explorer ask of a clip store. Keys are relative to
    the store's root or prefix; a store that cannot be read raises ClipStoreError."""

    def keys(self, prefix: str) -> list[StoredKey]:
        """Every key starting with `prefix`, with its size and version."""

    def describe(self) -> str:
        """The store's identity in the clip inventory (a URI)."""

    def top_level(self, folder: str = "") -> tuple[list[str], list[str]]:
        """(folder names, other entries) directly under the root, or under its `folder/`."""

    def locate(self, key: str) -> str:
        """Where `key` is, for people and for heatmap_minutes.video_path."""

    def local_file(self, clip: ClipRef) -> AbstractContextManager[Path]:
        """The clip as a local file while the context lasts."""

    def fetched(self, clips: Iterable[ClipRef]) -> Iterator[tuple[ClipRef, "Fetch"]]:
        """The clips in order, each as a local file (or the error that kept it from being one) until the caller
        moves on."""

    def playable(self, key: str) -> Playable:
        """How a browser plays `key` (ClipStoreError when the store will not give it)."""

    def discovery(self, catalog: "ClipCatalog", reconcile_hours: float, late_window: timedelta) -> "ClipDiscovery":
        """The discovery that keeps the clip inventory of `catalog` (read from this store) current."""


def _stored_key(key: str, stat: os.stat_result, problem: str | None = None) -> StoredKey:
    return StoredKey(key, stat.st_size, f"{stat.st_mtime_ns}:{stat.st_size}",
                     datetime.fromtimestamp(stat.st_mtime_ns / 1e9, timezone.utc), problem)


OUTSIDE = "a symbolic link leading outside the clip folder (not read)"
FOLDER_LINK = "a symbolic link to a folder (not followed)"


class LocalClipStore:
    """Clips under a local folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._folders_inside: dict[str, bool] = {}  # folder -> whether its real path is inside (a tick's folders)

    def keys(self, prefix: str) -> list[StoredKey]:
        """Every file whose key starts with `prefix`, sorted."""
        folder, _, name_start = prefix.rpartition("/")
        base = self._existing_dir() / folder
        if not base.is_dir():
            return []
        found, real_root = [], self._real_root()
        for directory, subdirs, files in os.walk(base):
            relative = Path(directory).relative_to(self.root).as_posix()
            relative = "" if relative == "." else relative + "/"
            links = [d for d in subdirs if os.path.islink(os.path.join(directory, d))]
            subdirs[:] = sorted(d for d in subdirs if d not in links and (
                f"{relative}{d}/".startswith(prefix) or prefix.startswith(f"{relative}{d}/")))
            inside = _within(os.path.realpath(directory), real_root)
            for name in files + links:
                key = relative + name
                if key.startswith(prefix):
                    with suppress(FileNotFoundError):  # removed since the walk, or a link to nothing
                        found.append(self._examined(key, os.path.join(directory, name), inside))
        return sorted(found, key=lambda k: k.key)

    def folder_stat(self, folder: str) -> FolderStat | None:
        """The change marks of `folder` (a key prefix ending in "/", or "" for the root); None when it is missing
        (ClipStoreError when the root is). One stat: a tick checks every folder of the late window."""
        try:
            stat = os.stat(os.path.join(self.root, folder))
        except (FileNotFoundError, NotADirectoryError):
            if folder:
                self._existing_dir()
            return None
        return FolderStat(stat.st_mtime_ns, stat.st_ctime_ns)

    def entries(self, folder: str) -> tuple[list[str], list[str]]:
        """(file names, folder names) directly in `folder` (a key prefix ending in "/"), unsorted, without a stat
        per entry."""
        files, folders = [], []
        with suppress(FileNotFoundError, NotADirectoryError), os.scandir(self._existing_dir() / folder) as found:
            for entry in found:  # a folder removed since its stat holds nothing; a link to one is a key to report
                (folders if entry.is_dir(follow_symlinks=False) else files).append(entry.name)
        return files, folders

    def stat_key(self, key: str) -> StoredKey | None:
        """The file `key` as it is now; None when it is gone."""
        path = os.path.join(self.root, key)
        folder = os.path.dirname(path)
        if folder not in self._folders_inside:  # a realpath per folder, not per key: a tick stats thousands of keys
            self._folders_inside[folder] = _within(os.path.realpath(folder), self._real_root())
        try:
            return self._examined(key, path, self._folders_inside[folder])
        except FileNotFoundError:
            return None

    def readable(self, key: str) -> Path:
        """The file of `key`, for reading; ClipStoreError when its real path is not inside the folder."""
        path = self.root / key
        if not _within(os.path.realpath(path), self._real_root()):
            raise ClipStoreError(f"{path}: {OUTSIDE}")
        return path

    def opened(self, key: str) -> tuple[int, str]:
        """(an open file descriptor, a path that opens that same file) of `key`'s regular file, checked on the open
        file itself where the system names it (Linux's /proc/self/fd), so that a link swapped in after the check
        of its path cannot lead outside; ClipStoreError otherwise. The caller closes the descriptor."""
        path = self.readable(key)
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            raise ClipStoreError(f"{path}: not a readable file") from None
        named = f"/proc/self/fd/{descriptor}"
        held = os.readlink(named) if os.path.islink(named) else None
        if (held is not None and not _within(held, self._real_root())) \
                or not file_mode.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise ClipStoreError(f"{path}: not a file inside the clip folder")
        return descriptor, named if held is not None else str(path)

    def describe(self) -> str:
        """The store's identity in the clip inventory."""
        return self.root.resolve().as_uri() + "/"

    def top_level(self, folder: str = "") -> tuple[list[str], list[str]]:
        """(folder names, other entries) directly under the root, or under its `folder/`."""
        base = self._existing_dir() / folder
        entries = sorted(base.iterdir()) if base.is_dir() else []
        return [p.name for p in entries if p.is_dir()], [p.name for p in entries if not p.is_dir()]

    @contextmanager
    def local_file(self, clip: ClipRef) -> Iterator[Path]:
        yield self.readable(clip.key)

    def fetched(self, clips: Iterable[ClipRef]) -> Iterator[tuple[ClipRef, "Fetch"]]:
        for clip in clips:
            try:
                fetch = Fetch(self.readable(clip.key), None)
            except ClipStoreError as exc:
                fetch = Fetch(None, exc)
            yield clip, fetch

    def locate(self, key: str) -> str:
        return str(self.root / key)

    def playable(self, key: str) -> Playable:
        """The checked open file of `key` (opened)."""
        descriptor, path = self.opened(key)
        return Playable(descriptor=descriptor, path=path)

    def discovery(self, catalog: "ClipCatalog", reconcile_hours: float, late_window: timedelta) -> "ClipDiscovery":
        """Folder marks: a folder is listed only when it changed."""
        from roz_pipeline.clips.folder_discovery import FolderDiscovery

        return FolderDiscovery(catalog, reconcile_hours, late_window)

    def _existing_dir(self) -> Path:
        if not self.root.is_dir():
            raise ClipStoreError(f"clip folder {self.root} does not exist")
        return self.root

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _examined(self, key: str, path: str, folder_inside: bool) -> StoredKey:
        """`key` at `path` (FileNotFoundError when gone), with the problem that keeps it from being read: a link
        leading outside the folder (its own or its folder's), or a link to a folder."""
        stat = os.lstat(path)
        if not file_mode.S_ISLNK(stat.st_mode):
            return _stored_key(key, stat, None if folder_inside else OUTSIDE)
        if not _within(os.path.realpath(path), self._real_root()):
            return _stored_key(key, stat, OUTSIDE)
        target = os.stat(path)
        return _stored_key(key, target, FOLDER_LINK if file_mode.S_ISDIR(target.st_mode) else None)


@dataclass
class Fetch:
    """A clip as a local file, or the store error that kept it from being one."""

    path: Path | None
    error: ClipStoreError | None


def _within(real_path: str, real_root: str) -> bool:
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)
