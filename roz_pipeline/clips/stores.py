"""Clip stores: a local folder or an S3 bucket (any S3-compatible endpoint), with the same four operations.

Keys sort by camera, then day, then minute, so "clips after key K" is both "newer clips" and a cheap S3 listing
(`StartAfter`). A clip uploaded late for a minute older than the newest seen one is left to a backfill.
"""

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from roz_pipeline.clips.layout import ClipRef, LayoutError, day_prefix, parse_clip_key
from roz_pipeline.core.timesteps import DAY, steps


class ClipStoreError(Exception):
    """The store could not be read (missing root, access denied); the message names the key or location."""


class ClipMissingError(ClipStoreError):
    """A listed clip was gone when it was fetched: its minute counts as missing."""


@dataclass(frozen=True)
class ClipProblem:
    key: str
    message: str
    minute: datetime | None = None  # the minute it would have filled, when the key says


@dataclass
class ClipListing:
    clips: list[ClipRef] = field(default_factory=list)
    problems: list[ClipProblem] = field(default_factory=list)


def build_listing(camera_id: str, keys: Iterable[str], locate) -> ClipListing:
    """Sort `keys` into clips of `camera_id` and problems: malformed keys, other cameras, two clips for a minute."""
    listing, by_minute = ClipListing(), defaultdict(list)
    for key in keys:
        try:
            camera, minute = parse_clip_key(key)
        except LayoutError as exc:
            listing.problems.append(ClipProblem(key, str(exc)))
            continue
        if camera != camera_id:
            listing.problems.append(ClipProblem(key, f"{key!r} is filed under camera {camera_id!r}"))
            continue
        by_minute[minute].append(key)
    for minute, keys_for_minute in sorted(by_minute.items()):
        if len(keys_for_minute) > 1:
            listing.problems.append(ClipProblem(
                sorted(keys_for_minute)[0], f"{len(keys_for_minute)} clips for one minute: {sorted(keys_for_minute)}",
                minute))
        else:
            listing.clips.append(ClipRef(keys_for_minute[0], camera_id, minute, locate(keys_for_minute[0])))
    return listing


class LocalClipStore:
    """Clips under a local folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def clips_between(self, camera_id: str, start: datetime, end: datetime) -> ClipListing:
        """The camera's clips for minutes `start <= minute < end`."""
        self._existing_dir()
        keys = [key for day in steps(start, end, DAY) for key in self._keys_under(day_prefix(camera_id, day))]
        return _within(build_listing(camera_id, keys, self._locate), start, end)

    def clips_after(self, camera_id: str, after_key: str | None) -> ClipListing:
        """The camera's clips whose keys sort after `after_key` (all of them when None)."""
        camera_dir = self._existing_dir()/camera_id
        after_day = after_key.split("/")[1] if after_key and after_key.count("/") == 2 else ""
        keys = []
        if camera_dir.is_dir():
            for day_dir in sorted(p for p in camera_dir.iterdir()):
                if day_dir.name < after_day:
                    continue
                if not day_dir.is_dir():
                    keys.append(f"{camera_id}/{day_dir.name}")
                    continue
                keys += [k for k in self._keys_under(f"{camera_id}/{day_dir.name}/") if not after_key or k > after_key]
        return build_listing(camera_id, sorted(keys), self._locate)

    def top_level(self) -> tuple[list[str], list[str]]:
        """(camera folder names, other entries) directly under the root."""
        entries = sorted(self._existing_dir().iterdir())
        return [p.name for p in entries if p.is_dir()], [p.name for p in entries if not p.is_dir()]

    @contextmanager
    def local_file(self, clip: ClipRef) -> Iterator[Path]:
        yield self.root / clip.key

    def _keys_under(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(f"{prefix}{p.name}" + ("/" if p.is_dir() else "") for p in folder.iterdir())

    def _existing_dir(self) -> Path:
        if not self.root.is_dir():
            raise ClipStoreError(f"clip folder {self.root} does not exist")
        return self.root

    def _locate(self, key: str) -> str:
        return str(self.root / key)


class S3ClipStore:
    """Clips under `prefix` in an S3 bucket; `client` is a boto3 S3 client (endpoint, retries and keys set)."""

    def __init__(self, client, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def clips_between(self, camera_id: str, start: datetime, end: datetime) -> ClipListing:
        keys = [key for day in steps(start, end, DAY) for key in self._keys(day_prefix(camera_id, day))]
        return _within(build_listing(camera_id, keys, self._locate), start, end)

    def clips_after(self, camera_id: str, after_key: str | None) -> ClipListing:
        start_after = self.prefix + after_key if after_key else None
        return build_listing(camera_id, self._keys(f"{camera_id}/", start_after), self._locate)

    def top_level(self) -> tuple[list[str], list[str]]:
        folders, others = [], []
        for page in self._pages(Prefix=self.prefix, Delimiter="/"):
            folders += [p["Prefix"][len(self.prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
            others += [o["Key"][len(self.prefix):] for o in page.get("Contents", [])]
        return sorted(folders), sorted(others)

    @contextmanager
    def local_file(self, clip: ClipRef) -> Iterator[Path]:
        """A temporary local copy of the clip, deleted afterwards."""
        from botocore.exceptions import ClientError

        folder = Path(tempfile.mkdtemp(prefix="roz-clip-"))
        try:
            path = folder / Path(clip.key).name
            try:
                self.client.download_file(self.bucket, self.prefix + clip.key, str(path))
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("404", "NoSuchKey"):
                    raise ClipMissingError(f"{clip.location}: gone since it was listed") from None
                if code.startswith("4") or code == "AccessDenied":
                    raise ClipStoreError(f"{clip.location}: cannot download ({_describe(code)})") from None
                raise  # 5xx after boto's own retries: transient, the step's RetryPolicy tries again
            yield path
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        arguments = {"Prefix": self.prefix + prefix}
        if start_after:
            arguments["StartAfter"] = start_after
        return [o["Key"][len(self.prefix):] for page in self._pages(**arguments) for o in page.get("Contents", [])]

    def _pages(self, **arguments):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, **arguments)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ClipStoreError(f"s3://{self.bucket}/{arguments.get('Prefix', '')}: cannot list ({code or exc})") from None
        except BotoCoreError as exc:
            raise ClipStoreError(f"s3://{self.bucket}/{arguments.get('Prefix', '')}: cannot list ({exc})") from None

    def _locate(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"


def _describe(code: str) -> str:
    return {"403": "403 access denied", "AccessDenied": "403 access denied"}.get(code, code or "unknown error")


def _within(listing: ClipListing, start: datetime, end: datetime) -> ClipListing:
    listing.clips = [c for c in listing.clips if start <= c.minute < end]
    listing.problems = [p for p in listing.problems if p.minute is None or start <= p.minute < end]
    return listing


def top_level_problems(store, camera_ids) -> list[str]:
    """Folders of unregistered cameras and files outside camera folders, directly under the store's root."""
    folders, stray = store.top_level()
    problems = [f"{name}/: camera is not in the registry" for name in folders if name not in camera_ids]
    return problems + [f"{name}: not inside a camera folder" for name in stray]
