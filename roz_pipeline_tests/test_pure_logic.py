"""The pure functions under the Dagster layer, without Dagster: time stepping, the new-clips scan, retention."""

from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, ceil, floor, runs, steps, uncovered
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline.usecases.new_clips import MAX_REMEMBERED_PROBLEMS, NewClipsCursor, PartitionSlot, scan_new_clips
from roz_pipeline.usecases.retention import apply_retention
from roz_pipeline_tests.helpers import T0, clip_key, minute_row

UTC = timezone.utc


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


def _hour_slot(camera, minute):
    start = floor(minute, HOUR)
    return PartitionSlot(f"{start:%Y-%m-%d-%H:%M}", start, start + HOUR)


def test_scan_takes_clips_of_ended_partitions_and_moves_the_cursor_past_them(tmp_path):
    for i in (0, 1, 59, 61):
        _touch(tmp_path, "lobby", T0 + i * MINUTE)
    store = LocalClipStore(tmp_path)

    scan = scan_new_clips(store, ["lobby", "yard"], NewClipsCursor(), _hour_slot, now=T0 + 70 * MINUTE)

    assert scan.partition_keys == {"lobby": ["2026-11-20-14:00"] * 3, "yard": []}
    assert scan.cursor.after == {"lobby": clip_key("lobby", T0 + 59 * MINUTE)}  # 15:01's hour has not ended
    later = scan_new_clips(store, ["lobby", "yard"], scan.cursor, _hour_slot, now=T0 + 2 * HOUR)
    assert later.partition_keys["lobby"] == ["2026-11-20-15:00"]
    again = scan_new_clips(store, ["lobby", "yard"], later.cursor, _hour_slot, now=T0 + 2 * HOUR)
    assert again.partition_keys == {"lobby": [], "yard": []}


def test_scan_reports_each_problem_once_and_bounds_what_it_remembers(tmp_path):
    _touch(tmp_path, "garage", T0)  # not registered
    (tmp_path / "stray.txt").write_text("hi")
    store = LocalClipStore(tmp_path)
    first = scan_new_clips(store, ["lobby"], NewClipsCursor(), _hour_slot, now=T0)
    assert first.new_problems == ["garage/: camera is not in the registry", "stray.txt: not inside a camera folder"]
    assert scan_new_clips(store, ["lobby"], first.cursor, _hour_slot, now=T0).new_problems == []

    crowded = NewClipsCursor(reported=[f"old problem {i}" for i in range(MAX_REMEMBERED_PROBLEMS)])
    assert len(scan_new_clips(store, ["lobby"], crowded, _hour_slot, now=T0).cursor.reported) == MAX_REMEMBERED_PROBLEMS


def test_scan_reports_clips_before_the_first_partition(tmp_path):
    _touch(tmp_path, "lobby", T0)
    scan = scan_new_clips(LocalClipStore(tmp_path), ["lobby"], NewClipsCursor(), lambda camera, minute: None,
                          now=T0 + HOUR)
    assert scan.partition_keys == {"lobby": []}
    assert scan.new_problems == [f"{clip_key('lobby', T0)}: before the camera's first partition "
                                 "(ROZ_PARTITIONS_START or retention)"]


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
