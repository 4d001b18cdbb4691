"""The pure functions under the Dagster layer, without Dagster: time stepping, the new-clips scan, retention."""

from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, ceil, floor, runs, steps, uncovered

from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline.usecases.live import FollowRequest, cameras_to_follow
from roz_pipeline.usecases.new_clips import MAX_REMEMBERED_PROBLEMS, NewClipsCursor, PartitionSlot, scan_new_clips
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


def _hour_slots(camera, start, end):
    return [PartitionSlot(f"{hour:%Y-%m-%d-%H:%M}", hour, hour + HOUR) for hour in steps(start, end, HOUR)]


class Store:
    """What the runs have read so far: the `unread` the scan asks about, kept by hand here."""

    def __init__(self):
        self.read = set()

    def unread(self, camera, slot, clips):
        return [clip for clip in clips if clip.key not in self.read]

    def run(self, catalog, scan):  # a run reads every clip of the partitions it was asked for
        for camera, keys in scan.read.items():
            for clips in catalog.clips_starting([camera], T0 - DAY, T0 + 10 * DAY).clips.values():
                self.read |= {clip.key for clip in clips if f"{floor(clip.start, HOUR):%Y-%m-%d-%H:%M}" in keys}


def _scan(catalog, cursor, store, now, cameras=("lobby", "yard")):
    return scan_new_clips(catalog, list(cameras), cursor, _hour_slots, store.unread, now, late_window=7 * DAY,
                          settle=90 * SECOND)


def test_the_hour_in_progress_is_left_to_its_follower_and_checked_after_it_settles(tmp_path):
    for i in (0, 1, 59, 61):
        _touch(tmp_path, "lobby", T0 + i * MINUTE)
    catalog, store = _catalog(tmp_path), Store()

    scan = _scan(catalog, NewClipsCursor(), store, now=T0 + 62 * MINUTE)

    assert scan.read == {"lobby": {"2026-11-20-14:00": scan.cursor.inputs["lobby"]["2026-11-20-14:00"]}}
    store.run(catalog, scan)
    again = _scan(catalog, scan.cursor, store, now=T0 + 63 * MINUTE)  # a redelivered tick
    assert again.read == {}
    # the followed hour settles; its run read its clips: nothing more to do
    store.read.add(clip_key("lobby", T0 + 61 * MINUTE))
    settled = _scan(catalog, again.cursor, store, now=T0 + 2 * HOUR + 2 * MINUTE)
    assert settled.read == {} and "2026-11-20-15:00" in settled.cursor.inputs["lobby"]
    # ... and an hour whose follower missed a clip gets a run for it once it has settled
    unread = _scan(catalog, again.cursor, Store(), now=T0 + 2 * HOUR + 2 * MINUTE)
    assert list(unread.read["lobby"]) == ["2026-11-20-15:00"]


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


def test_late_and_out_of_order_clips_ask_for_their_partition_again_with_a_new_fingerprint(tmp_path):
    for i in (0, 2):
        _touch(tmp_path, "lobby", T0 + i * MINUTE)
    catalog, store = _catalog(tmp_path), Store()
    first = _scan(catalog, NewClipsCursor(), store, now=T0 + 3 * HOUR)
    store.run(catalog, first)
    old = first.read["lobby"]["2026-11-20-14:00"]

    _touch(tmp_path, "lobby", T0 + MINUTE)  # 14:01 lands after 14:02, three hours late
    _touch(tmp_path, "lobby", T0 - 2 * DAY)  # and a clip two days late
    late = _scan(catalog, first.cursor, store, now=T0 + 3 * HOUR)

    assert late.read["lobby"]["2026-11-20-14:00"] != old
    assert "2026-11-18-14:00" in late.read["lobby"]
    store.run(catalog, late)
    assert _scan(catalog, late.cursor, store, now=T0 + 3 * HOUR).read == {}
    too_late = _scan(catalog, late.cursor, store, now=T0 + 9 * DAY)  # outside the late window: forgotten
    assert too_late.cursor.inputs["lobby"] == {}


def test_minute_partitions_run_once_they_settle(tmp_path):
    _touch(tmp_path, "lobby", T0)
    catalog, store = _catalog(tmp_path), Store()
    minute_slots = lambda camera, start, end: [  # noqa: E731
        PartitionSlot(f"{m:%H:%M}", m, m + MINUTE) for m in steps(start, end, MINUTE)]

    def scan(now):
        return scan_new_clips(catalog, ["lobby"], NewClipsCursor(), minute_slots, store.unread, now,
                              late_window=DAY, settle=90 * SECOND)

    assert scan(T0 + MINUTE).read == {}  # not settled yet
    assert list(scan(T0 + 3 * MINUTE).read["lobby"]) == ["14:00"]


def test_scan_reports_each_problem_once_and_bounds_what_it_remembers(tmp_path):
    _touch(tmp_path, "garage", T0)  # not registered
    (tmp_path / "stray.txt").write_text("hi")
    _touch(tmp_path, "lobby", T0)
    (tmp_path / "lobby" / "notes.txt").write_text("hi")
    catalog, store = _catalog(tmp_path), Store()
    first = _scan(catalog, NewClipsCursor(), store, now=T0, cameras=["lobby"])
    assert first.new_problems == ["garage/: camera is not in the registry", "stray.txt: not inside a camera folder",
                                  "lobby/notes.txt: not inside a folder of the layout "
                                  "{camera}/%Y-%m-%d/%H-%M.<mp4|mkv|avi|mov>"]
    assert _scan(catalog, first.cursor, store, now=T0, cameras=["lobby"]).new_problems == []

    crowded = NewClipsCursor(reported=[f"old problem {i}" for i in range(MAX_REMEMBERED_PROBLEMS)])
    assert len(_scan(catalog, crowded, store, now=T0, cameras=["lobby"]).cursor.reported) == MAX_REMEMBERED_PROBLEMS


def test_scan_reports_clips_before_the_first_partition(tmp_path):
    _touch(tmp_path, "lobby", T0)
    scan = scan_new_clips(_catalog(tmp_path), ["lobby"], NewClipsCursor(), lambda camera, start, end: None,
                          Store().unread, T0 + HOUR, late_window=DAY, settle=90 * SECOND)
    assert scan.read == {}
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
