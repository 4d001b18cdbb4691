"""The pure functions under the Dagster layer, without Dagster: time stepping, choosing the cameras to follow,
retention. (The new-clips scan asks the clip inventory: test_clip_inventory.py.)"""

from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, ceil, floor, runs, steps, uncovered

from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline.usecases.live import FollowRequest, cameras_to_follow
from roz_pipeline.usecases.retention import apply_retention
from roz_pipeline_tests.helpers import T0, clip_key, minute_row

UTC = timezone.utc
SECOND = timedelta(seconds=1)


def test_steps_floor_ceil_and_runs():
    moment = datetime(2026, 11, 20, 14, 3, 30, tzinfo=UTC)
    assert floor(moment, MINUTE) == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert floor(moment, DAY) == datetime(2026, 11, 20, tzinfo=UTC)
    assert ceil(moment, HOUR) == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert ceil(T0, HOUR) == T0
    assert steps(T0, T0 + timedelta(minutes=3), MINUTE) == [T0 + timedelta(minutes=i) for i in range(3)]
    assert steps(moment, moment + timedelta(days=1), DAY) == [floor(moment, DAY), floor(moment, DAY) + DAY]
    assert steps(T0, T0, HOUR) == []
    minutes = [T0, T0 + MINUTE, T0 + 3 * MINUTE]
    assert runs(reversed(minutes), MINUTE) == [(T0, T0 + MINUTE), (T0 + 3 * MINUTE, T0 + 3 * MINUTE)]
    day = floor(T0, DAY)
    assert uncovered(day + 30 * MINUTE, day + 4 * HOUR, [day + HOUR, day + 2 * HOUR], HOUR) == [
        (day + 30 * MINUTE, day + HOUR), (day + 3 * HOUR, day + 4 * HOUR)]


def _touch(root, camera, minute):
    path = root / clip_key(camera, minute)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # the scan lists keys; it does not open clips


def _catalog(root, cameras=("lobby", "yard")):
    return ClipCatalog(LocalClipStore(root), ClipLayout.from_setting("roz"), [Camera(c) for c in cameras])


def test_the_live_cameras_are_followed_once_per_hour_in_runs_of_at_most_n_cameras(tmp_path):
    cameras = ("lobby", "yard", "gate", "dock", "roof")
    catalog = _catalog(tmp_path, cameras)
    hour, now = T0 + HOUR, T0 + HOUR + 30 * SECOND
    for camera in ("lobby", "yard", "gate"):
        _touch(tmp_path, camera, T0 + 59 * MINUTE)  # recording into the new hour
    _touch(tmp_path, "dock", T0 - HOUR)  # stopped two hours ago (longer than any clip of the layout)
    key = f"{hour:%Y-%m-%d-%H:%M}"

    def follow(following, moment=now):
        return cameras_to_follow(catalog, list(cameras), following, key, hour, moment, cameras_per_run=2)

    assert follow({}) == [FollowRequest(key, ("lobby", "yard")), FollowRequest(key, ("gate",))]
    assert follow({"lobby": key, "yard": key, "gate": key}) == []  # a redelivered tick
    assert follow({"lobby": "2026-11-20-14:00"}) == [FollowRequest(key, ("lobby", "yard")),
                                                     FollowRequest(key, ("gate",))]  # the next hour
    _touch(tmp_path, "roof", hour + 20 * MINUTE)  # starts recording in the hour: followed from then on
    assert follow({"lobby": key, "yard": key, "gate": key}, hour + 21 * MINUTE) == [FollowRequest(key, ("roof",))]


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
