"""The pure functions under the Dagster layer, without Dagster: time stepping, the new-clips scan, retention."""

from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
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


def _catalog(root, cameras=("lobby", "yard")):
    return ClipCatalog(LocalClipStore(root), ClipLayout.from_setting("roz"), [Camera(c) for c in cameras])


def _hour_slots(camera, start, end):
    return [PartitionSlot(f"{hour:%Y-%m-%d-%H:%M}", hour, hour + HOUR) for hour in steps(start, end, HOUR)]


def _since_t0(camera):
    return floor(T0, DAY)


def test_scan_takes_clips_whose_partitions_ended_and_moves_the_cursor_past_them(tmp_path):
    for i in (0, 1, 59, 61):
        _touch(tmp_path, "lobby", T0 + i * MINUTE)
    catalog = _catalog(tmp_path)

    scan = scan_new_clips(catalog, ["lobby", "yard"], NewClipsCursor(), _hour_slots, _since_t0, now=T0 + 70 * MINUTE)

    assert scan.partition_keys == {"lobby": ["2026-11-20-14:00"], "yard": []}
    # 14:59 may run into 15:00 (until the next clip starts, at most the typical 2 minutes between starts),
    # whose hour has not ended
    assert scan.cursor.taken == {"lobby": (T0 + MINUTE).isoformat()}
    later = scan_new_clips(catalog, ["lobby", "yard"], scan.cursor, _hour_slots, _since_t0, now=T0 + 2 * HOUR)
    assert later.partition_keys["lobby"] == ["2026-11-20-14:00", "2026-11-20-15:00"]
    again = scan_new_clips(catalog, ["lobby", "yard"], later.cursor, _hour_slots, _since_t0, now=T0 + 2 * HOUR)
    assert again.partition_keys == {"lobby": [], "yard": []}


def test_a_clip_feeds_every_partition_until_the_next_clip_at_most_its_typical_length(tmp_path):
    for i in (0, 60, 120):  # hour-long files starting at :30
        _touch(tmp_path, "lobby", T0 + 30 * MINUTE + i * MINUTE)
    minute_slots = lambda camera, start, end: [  # noqa: E731
        PartitionSlot(f"{m:%H:%M}", m, m + MINUTE) for m in steps(start, end, MINUTE)]

    scan = scan_new_clips(_catalog(tmp_path), ["lobby"], NewClipsCursor(), minute_slots, _since_t0,
                          now=T0 + 4 * HOUR)

    keys = scan.partition_keys["lobby"]
    assert keys[0] == "14:30" and keys[-1] == "17:29" and len(keys) == 180 == len(set(keys))


def test_scan_reports_each_problem_once_and_bounds_what_it_remembers(tmp_path):
    _touch(tmp_path, "garage", T0)  # not registered
    (tmp_path / "stray.txt").write_text("hi")
    _touch(tmp_path, "lobby", T0)
    (tmp_path / "lobby" / "notes.txt").write_text("hi")
    catalog = _catalog(tmp_path)
    first = scan_new_clips(catalog, ["lobby"], NewClipsCursor(), _hour_slots, _since_t0, now=T0)
    assert first.new_problems == ["garage/: camera is not in the registry", "stray.txt: not inside a camera folder",
                                  "lobby/notes.txt: not inside a folder of the layout "
                                  "{camera}/%Y-%m-%d/%H-%M.<mp4|mkv|avi|mov>"]
    assert scan_new_clips(catalog, ["lobby"], first.cursor, _hour_slots, _since_t0, now=T0).new_problems == []

    crowded = NewClipsCursor(reported=[f"old problem {i}" for i in range(MAX_REMEMBERED_PROBLEMS)])
    scan = scan_new_clips(catalog, ["lobby"], crowded, _hour_slots, _since_t0, now=T0)
    assert len(scan.cursor.reported) == MAX_REMEMBERED_PROBLEMS


def test_scan_reports_clips_before_the_first_partition(tmp_path):
    _touch(tmp_path, "lobby", T0)
    scan = scan_new_clips(_catalog(tmp_path), ["lobby"], NewClipsCursor(), lambda camera, start, end: None,
                          _since_t0, now=T0 + HOUR)
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
