"""Retention: each camera's minutes past its `retention_days` and rollups past its `rollup_retention_days`.
Days of minutes every camera's window has passed are dropped whole (their partitions); the rest is deleted in
committed batches. No Dagster."""

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from roz_pipeline.registry import Camera
from roz_pipeline.storage.inventory import prune_inventory
from roz_pipeline.storage.maintenance import delete_expired
from roz_pipeline.storage.partitions import drop_partition, expired_partitions, minutes_by_camera, rows_in
from roz_pipeline.storage.rollups import delete_expired_rollups

LOCK_TIMEOUT = "5s"  # a cleanup batch never waits longer than this for a writer's lock (and fails loudly if it does)


@dataclass(frozen=True)
class CameraRetention:
    """What the retention did for one camera."""

    camera_id: str
    rows_deleted: int
    retention_days: int
    cutoff: datetime
    rollup_rows_deleted: int
    rollup_retention_days: int
    rollup_cutoff: datetime
    duration_s: float


def apply_retention(cameras: list[Camera], connect: Callable[[], AbstractContextManager[psycopg.Connection]],
                    now: Callable[[], datetime], connect_owner: Callable | None = None,
                    kept_cameras: list[str] = ()) -> Iterator[CameraRetention]:
    """Drop the days of minutes every camera's window has passed (none holding a row of `kept_cameras`), then
    delete each camera's remaining expired minutes and its expired rollups, camera by camera; yields what each lost.

    `connect()` gives an autocommit connection (the batches commit one by one), `connect_owner()` one as the tables'
    owner (only an owner drops a partition; default `connect`).
    """
    dropped = drop_expired_days(cameras, connect_owner or connect, now(), kept_cameras) if cameras else {}
    for camera in cameras:
        started, moment = time.monotonic(), now()
        with connect() as conn:
            deleted = delete_expired(conn, camera.camera_id, camera.retention_days, lock_timeout=LOCK_TIMEOUT,
                                     now=moment)
            rollups_deleted = delete_expired_rollups(conn, camera.camera_id, camera.rollup_retention_days)
        yield CameraRetention(camera.camera_id, dropped.get(camera.camera_id, 0) + deleted, camera.retention_days,
                              moment - timedelta(days=camera.retention_days), rollups_deleted,
                              camera.rollup_retention_days, moment - timedelta(days=camera.rollup_retention_days),
                              round(time.monotonic() - started, 3))


def drop_expired_days(cameras: list[Camera], connect_owner: Callable, moment: datetime,
                      kept_cameras: list[str] = ()) -> dict[str, int]:
    """Drop the minute partitions that end before the longest window's cutoff; the minutes they held per camera."""
    cutoff = moment - timedelta(days=max(camera.retention_days for camera in cameras))
    held: dict[str, int] = {}
    with connect_owner() as conn:
        for partition in expired_partitions(conn, "heatmap_minutes", cutoff, kept_cameras):
            for camera_id, minutes in minutes_by_camera(conn, partition).items():
                held[camera_id] = held.get(camera_id, 0) + minutes
            drop_partition(conn, partition)
    return held


def forget_clips_before(connect: Callable[[], AbstractContextManager[psycopg.Connection]], connect_owner: Callable,
                     before: datetime) -> int:
    """The clip inventory's days that ended before `before` dropped, then its clips that started before it
    deleted (the day `before` falls in): past the late window, discovery no longer looks there. The clips forgotten.
    `connect_owner()` connects as the tables' owner, who alone drops a partition."""
    forgotten = 0
    with connect_owner() as conn:
        for partition in expired_partitions(conn, "clip_inventory", before):
            forgotten += rows_in(conn, partition)
            drop_partition(conn, partition)
    with connect() as conn:
        return forgotten + prune_inventory(conn, before)
