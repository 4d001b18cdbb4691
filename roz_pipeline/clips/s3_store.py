"""Clips in an S3 bucket (any S3-compatible endpoint): listed by prefix, each downloaded once to a temporary file,
several ahead at a time, and removed when its clip is done."""

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from roz_pipeline.clips.stores import ClipMissingError, ClipRef, ClipStoreError, Fetch, Playable, StoredKey

if TYPE_CHECKING:  # the discoveries read a store: imported by discovery() when it is asked
    from roz_pipeline.clips.catalog import ClipCatalog
    from roz_pipeline.clips.discovery import ClipDiscovery

FETCH_AHEAD = 4  # S3 downloads in flight while a clip decodes: many 10 s segments do not wait on latency one by one
FETCH_AHEAD_MAX_BYTES = 256 * 1024 * 1024  # bigger clips (hour-long files) are downloaded one at a time


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
                        if ahead not in pending and (ahead == index
                                                     or (clips[ahead].size or 0) <= FETCH_AHEAD_MAX_BYTES):
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

    def playable(self, key: str) -> Playable:
        """A presigned URL: the browser reads the clip from the bucket."""
        return Playable(url=self.presigned_url(key))

    def discovery(self, catalog: "ClipCatalog", reconcile_hours: float, late_window: timedelta) -> "ClipDiscovery":
        """Listings of the window's prefixes (Clips.discovery uses the bucket's notifications when it has them)."""
        from roz_pipeline.clips.s3_discovery import ListingDiscovery

        return ListingDiscovery(catalog, reconcile_hours, late_window)

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
            raise ClipStoreError(f"s3://{self.bucket}/{arguments.get('Prefix', '')}: cannot list "
                                 f"({code or exc})") from None
        except BotoCoreError as exc:
            raise ClipStoreError(f"s3://{self.bucket}/{arguments.get('Prefix', '')}: cannot list ({exc})") from None


def _describe(code: str) -> str:
    return {"403": "403 access denied", "AccessDenied": "403 access denied"}.get(code, code or "unknown error")
