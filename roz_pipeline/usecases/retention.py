"""Retention: each camera's minutes past its `retention_days` and rollups past its `rollup_retention_days`
deleted in committed batches. No Dagster."""

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from roz_pipeline.registry import Camera
from roz_pipeline.storage.maintenance import delete_expired
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
                    now: Callable[[], datetime]) -> Iterator[CameraRetention]:
    """Delete each camera's expired minutes and rollups, camera by camera; yields what each lost.

    `connect()` gives an autocommit connection (the batches commit one by one).
    """
    for camera in cameras:
        started = time.monotonic()
        with connect() as conn:
            deleted = delete_expired(conn, camera.camera_id, camera.retention_days, lock_timeout=LOCK_TIMEOUT)
            rollups_deleted = delete_expired_rollups(conn, camera.camera_id, camera.rollup_retention_days)
        moment = now()
        yield CameraRetention(camera.camera_id, deleted, camera.retention_days,
                              moment - timedelta(days=camera.retention_days), rollups_deleted,
                              camera.rollup_retention_days, moment - timedelta(days=camera.rollup_retention_days),
                              round(time.monotonic() - started, 3))
