"""Clip stores: a local folder or an S3 bucket (any S3-compatible endpoint), with the same few operations: list the
keys under a prefix, list the root's entries, and give a clip as a local file (S3: downloaded once to a temporary
file, several ahead at a time, each removed when its clip is done)."""

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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


@dataclass(frozen=True)
class FolderStat:
    """A local folder's change marks: its mtime and ctime (ns). `rsync -a` sets a copied folder's mtime to the
    source's, but nothing sets its ctime: comparing both for change finds every added or removed entry."""

    mtime_ns: int
    ctime_ns: int


def _stored_key(key: str, stat: os.stat_result) -> StoredKey:
    return StoredKey(key, stat.st_size, f"{stat.st_mtime_ns}:{stat.st_size}",
                     datetime.fromtimestamp(stat.st_mtime_ns / 1e9, timezone.utc))


FETCH_AHEAD = 4  # S3 downloads in flight while a clip decodes: many 10 s segments do not wait on latency one by one
FETCH_AHEAD_MAX_BYTES = 256 * 1024 * 1024  # bigger clips (hour-long files) are downloaded one at a time


class LocalClipStore:
    """Clips under a local folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def keys(self, prefix: str) -> list[StoredKey]:
        """Every file whose key starts with `prefix`, sorted."""
        folder, _, name_start = prefix.rpartition("/")
        base = self._existing_dir() / folder
        if not base.is_dir():
            return []
        found = []
        for directory, subdirs, files in os.walk(base):
            relative = Path(directory).relative_to(self.root).as_posix()
            relative = "" if relative == "." else relative + "/"
            subdirs[:] = sorted(d for d in subdirs if f"{relative}{d}/".startswith(prefix) or prefix.startswith(f"{relative}{d}/"))
            for name in files:
                key = relative + name
                if key.startswith(prefix):
                    found.append(_stored_key(key, (Path(directory) / name).stat()))
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
            for entry in found:  # a folder removed since its stat holds nothing
                (folders if entry.is_dir() else files).append(entry.name)
        return files, folders

    def stat_key(self, key: str) -> StoredKey | None:
        """The file `key` as it is now; None when it is gone."""
        try:
            return _stored_key(key, os.stat(os.path.join(self.root, key)))
        except FileNotFoundError:
            return None

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
        yield self.root / clip.key

    def fetched(self, clips: Iterable[ClipRef]) -> Iterator[tuple[ClipRef, "Fetch"]]:
        for clip in clips:
            yield clip, Fetch(self.root / clip.key, None)

    def locate(self, key: str) -> str:
        return str(self.root / key)

    def _existing_dir(self) -> Path:
        if not self.root.is_dir():
            raise ClipStoreError(f"clip folder {self.root} does not exist")
        return self.root


@dataclass
class Fetch:
    """A clip as a local file, or the store error that kept it from being one."""

    path: Path | None
    error: ClipStoreError | None


class S3ClipStore:
    """Clips under `prefix` in an S3 bucket; `client` is a boto3 S3 client (endpoint, retries and keys set)."""

    def __init__(self, client, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def keys(self, prefix: str) -> list[StoredKey]:
        return [StoredKey(o["Key"][len(self.prefix):], o.get("Size", 0), o.get("ETag", "").strip('"'),
                          o["LastModified"])
                for page in self._pages(Prefix=self.prefix + prefix) for o in page.get("Contents", [])]

    def describe(self) -> str:
        """The store's identity in the clip inventory."""
        return f"s3://{self.bucket}/{self.prefix}"

    def top_level(self, folder: str = "") -> tuple[list[str], list[str]]:
        base = self.prefix + (folder + "/" if folder else "")
        folders, others = [], []
        for page in self._pages(Prefix=base, Delimiter="/"):
            folders += [p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes", [])]
            others += [o["Key"][len(base):] for o in page.get("Contents", [])]
        return sorted(folders), sorted(others)

    @contextmanager
    def local_file(self, clip: ClipRef) -> Iterator[Path]:
        """A temporary local copy of the clip, deleted afterwards."""
        folder = Path(tempfile.mkdtemp(prefix="roz-clip-"))
        try:
            yield self._download(clip, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def fetched(self, clips: Iterable[ClipRef]) -> Iterator[tuple[ClipRef, Fetch]]:
        """The clips in order, each downloaded once to a temporary file that is removed when the caller moves on;
        up to FETCH_AHEAD small clips download while the caller works on the current one. Transient S3 errors
        (5xx after boto's retries) propagate: the step's RetryPolicy runs it again."""
        folder = Path(tempfile.mkdtemp(prefix="roz-clips-"))
        clips = list(clips)
        try:
            with ThreadPoolExecutor(max_workers=FETCH_AHEAD) as pool:
                pending = {}  # clip index -> its download
                for index, clip in enumerate(clips):
                    for ahead in range(index, min(index + FETCH_AHEAD, len(clips))):
                        if ahead not in pending and (ahead == index or (clips[ahead].size or 0) <= FETCH_AHEAD_MAX_BYTES):
                            pending[ahead] = pool.submit(self._fetch, clips[ahead], folder / str(ahead))
                    fetch = pending.pop(index).result()
                    try:
                        yield clip, fetch
                    finally:
                        if fetch.path is not None:
                            shutil.rmtree(fetch.path.parent, ignore_errors=True)
                for future in pending.values():
                    future.cancel()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def locate(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def presigned_url(self, key: str, seconds: int = 3600) -> str:
        """An HTTP URL that reads the clip for `seconds` without credentials (a browser plays it from there)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.prefix + key}, ExpiresIn=seconds)

    def _fetch(self, clip: ClipRef, folder: Path) -> Fetch:
        try:
            return Fetch(self._download(clip, folder), None)
        except ClipStoreError as exc:
            return Fetch(None, exc)

    def _download(self, clip: ClipRef, folder: Path) -> Path:
        from botocore.exceptions import ClientError

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(clip.key).name
        try:
            self.client.download_file(self.bucket, self.prefix + clip.key, str(path))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey"):
                raise ClipMissingError(f"{clip.video_path}: gone since it was listed") from None
            if code.startswith("4") or code == "AccessDenied":
                raise ClipStoreError(f"{clip.video_path}: cannot download ({_describe(code)})") from None
            raise  # 5xx after boto's own retries: transient, the step's RetryPolicy tries again
        return path

    def _pages(self, **arguments):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, **arguments)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ClipStoreError(f"s3://{self.bucket}/{arguments.get('Prefix', '')}: cannot list ({code or exc})") from None
        except BotoCoreError as exc:
            raise ClipStoreError(f"s3://{self.bucket}/{arguments.get('Prefix', '')}: cannot list ({exc})") from None


def _describe(code: str) -> str:
    return {"403": "403 access denied", "AccessDenied": "403 access denied"}.get(code, code or "unknown error")
