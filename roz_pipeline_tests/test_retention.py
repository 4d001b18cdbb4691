"""Retention without Dagster: each camera's expired minutes deleted, and reported (the job and its schedule:
test_operations.py; rollups outliving minutes: test_rollups.py)."""

from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline.usecases.retention import apply_retention
from roz_pipeline_tests.helpers import minute_row

UTC = timezone.utc


def test_retention_deletes_each_cameras_expired_minutes_and_reports_them(db, migrated_database):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for camera, age_days in (("lobby", 2), ("lobby", 0), ("yard", 2)):
        write_minute(db, minute_row(camera, now - timedelta(days=age_days)))
    cameras = [Camera("lobby", retention_days=1), Camera("yard", retention_days=3)]

    reports = list(apply_retention(cameras, lambda: psycopg.connect(migrated_database, autocommit=True),
                                   lambda: now))

    assert [(r.camera_id, r.rows_deleted) for r in reports] == [("lobby", 1), ("yard", 0)]
    assert reports[0].cutoff == now - timedelta(days=1)
    assert db.execute("SELECT camera_id, count(*) FROM heatmap_minutes GROUP BY 1 ORDER BY 1").fetchall() == [
        ("lobby", 1), ("yard", 1)]
