"""Live mode with a clock the test controls: a recorder lands Frigate segments as time passes, real sensor evaluations
start runs, the run following the hour in progress writes each minute while its clips land; late, out-of-order and
redelivered inputs; freshness across hour boundaries. Real clips, real PostgreSQL, real Dagster runs."""

import heapq
import itertools
import shutil
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import AssetRecordsFilter, RunsFilter, build_sensor_context, instance_for_test, materialize

from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.core.timesteps import MINUTE
from roz_pipeline.lib.keys import CAMERA_TAG, FOLLOW_JOB, FOLLOW_TAG, minutes_key
from roz_pipeline.storage.minutes import HeatmapMinute, MinuteSources, write_minute
from roz_pipeline.usecases.live import HEARTBEAT_EVERY, HEARTBEAT_GRACE
from roz_pipeline_tests.helpers import (
    MIGRATIONS,
    asset_def,
    execute_request,
    local_defs,
    minute_row,
    minute_sources,
    registry_file,
    rollup_requests,
)
from roz_pipeline_tests.recorders import record

pytestmark = pytest.mark.slow  # hours of live footage on a simulated clock: `./run test -m "not slow"` leaves it out

UTC = timezone.utc
START = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # the second hour crosses midnight
SEGMENT = timedelta(seconds=10)
UPLOAD = timedelta(seconds=5)  # a segment lands this long after it was recorded
FRIGATE = ClipLayout.from_setting("frigate")


class Recorder:
    """A clock the test moves, and a camera that records 10 s segments and lands each one UPLOAD after its end
    (or at the time `late` says); every `sleep` moves the clock and lands what is due, then calls `on_tick`."""

    def __init__(self, root, segment_file, cameras, until, late=None, silent=None):
        self.root, self.segment_file = root, segment_file
        self.now = START
        self.landed: dict[str, datetime] = {}  # key -> when it landed
        self.due = []  # (lands at, key)
        late, silent = late or {}, silent or {}
        for camera in cameras:
            start = START
            while start < until:
                key = FRIGATE.key(camera, start)
                quiet = silent.get(camera)
                if not (quiet and quiet[0] <= start < quiet[1]):
                    self.due.append((late.get(key, start + SEGMENT + UPLOAD), key))
                start += SEGMENT
        self.due.sort()
        self.on_tick = lambda: None

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(self.now + timedelta(seconds=seconds))
        self.on_tick()

    def advance(self, to: datetime) -> None:
        self.now = to
        while self.due and self.due[0][0] <= to:
            lands, key = self.due.pop(0)
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.segment_file, path)
            self.landed[key] = lands


def _defs(tmp_path, database_url, recorder, cameras="  front: {source_name: Front, retention_days: 36500}\n",
          sleep=None):
    return local_defs(registry_file(tmp_path, "cameras:\n" + cameras), recorder.root, database_url, layout="frigate",
                      clock=recorder.clock, sleep=sleep or recorder.sleep)


def _tick(defs, instance, cursors, executed, name="new_clips_sensor", follow=None):
    """One sensor evaluation; its run requests run at once (a run key Dagster has seen is skipped, as the daemon
    does), or, with `follow`, the runs following an hour are handed to it."""
    result = defs.resolve_sensor_def(name)(build_sensor_context(
        instance=instance, definitions=defs, resources=defs.resources, cursor=cursors.get(name)))
    cursors[name] = result.cursor
    for request in result.run_requests or []:
        if request.run_key in executed:
            continue
        if follow is not None and FOLLOW_TAG in request.tags:
            executed[request.run_key] = None
            follow(lambda r=request: executed.__setitem__(r.run_key, execute_request(defs, r, instance)))
        else:
            executed[request.run_key] = execute_request(defs, request, instance)
    return result


def _tick_live(defs, instance, cursors, executed, follow=None):
    """The two sensors of live mode, as the daemon ticks them: the follower of the hour in progress, the late clips."""
    for name in ("follow_cameras_sensor", "new_clips_sensor"):
        _tick(defs, instance, cursors, executed, name, follow)


def _roll_up(defs, instance, cursor, counts: Counter):
    """One tick of rollup_automation_sensor (at the recorder's time); the hours and days it requests are rolled up
    at once and counted."""
    requested, cursor = rollup_requests(defs, instance, cursor)
    for key, partitions in requested.items():
        for partition in partitions:
            counts[(key.to_user_string(), partition)] += 1
            assert materialize([asset_def(defs, key)], resources=defs.resources, instance=instance,
                               partition_key=partition).success
    return cursor


def _tick_stale_sensor_every_minute(recorder, defs, instance, cursors, executed) -> None:
    """As the daemon does, also while a run follows its hour: the stale sensor every minute of the recorder's clock,
    from the second minute on (once the first minute can be stored)."""
    last_check = [START + timedelta(minutes=2)]

    def check_freshness():
        if recorder.now - last_check[0] >= MINUTE:
            last_check[0] = recorder.now
            _tick(defs, instance, cursors, executed, name="stale_cameras_sensor")

    recorder.on_tick = check_freshness


def _segment_file(tmp_path):
    return record(tmp_path / "segment.mp4", 10)


def test_the_hour_in_progress_is_followed_and_every_minute_is_stored_within_two_minutes(tmp_path, migrated_database,
                                                                                        instance):
    out_of_order = FRIGATE.key("Front", START + timedelta(minutes=10, seconds=10))
    forty_minutes_late = FRIGATE.key("Front", START + timedelta(minutes=5))
    late = {out_of_order: START + timedelta(minutes=10, seconds=50),  # lands after 23:10:20's segment
            forty_minutes_late: START + timedelta(minutes=45, seconds=15)}
    recorder = Recorder(tmp_path / "recordings", _segment_file(tmp_path), ["Front"], START + timedelta(hours=2),
                        late=late)
    defs = _defs(tmp_path, migrated_database, recorder)
    cursors, executed = {}, {}
    recorder.advance(START + timedelta(seconds=20))

    rollups = Counter()
    automation = _roll_up(defs, instance, None, rollups)  # the automation sensor ticks from the start
    while recorder.now < START + timedelta(hours=2, minutes=4):
        _tick_live(defs, instance, cursors, executed)
        automation = _roll_up(defs, instance, automation, rollups)
        recorder.sleep(30)
    recorder.advance(START + timedelta(days=1, hours=1))  # the camera stopped at 01:00; its day is over
    _roll_up(defs, instance, automation, rollups)

    # the camera stops at 01:00; having recorded lately, it is followed in 01:00 too, which gets no footage
    follows = [key for key in executed if key.startswith("follow:")]
    assert follows == [f"follow:{hour}:front" for hour in ("2026-11-20-23:00", "2026-11-21-00:00",
                                                           "2026-11-21-01:00")]
    assert all(run.success for run in executed.values())
    # a following run holds no camera's slot in the queue: a late clip's run never waits an hour behind it
    assert not any(CAMERA_TAG in executed[key].dagster_run.tags for key in follows)
    hours = ["2026-11-20-23:00", "2026-11-21-00:00", "2026-11-21-01:00"]
    status = instance.get_status_by_partition(minutes_key("front"), hours,
                                              defs.resolve_asset_graph().get(minutes_key("front")).partitions_def)
    # 01:00 was followed and got no footage: processed all the same, and its metadata says so
    assert {key: value and value.value for key, value in status.items()} == dict.fromkeys(hours, "MATERIALIZED")
    (quiet_hour,) = instance.fetch_materializations(
        AssetRecordsFilter(minutes_key("front"), asset_partitions=["2026-11-21-01:00"]), limit=1).records
    assert quiet_hour.asset_materialization.metadata["minutes_written"].value == 0
    # while it was followed, the hour showed as filling: materialized every 10 minutes, with the minutes so far
    records = instance.fetch_materializations(
        AssetRecordsFilter(minutes_key("front"), asset_partitions=["2026-11-20-23:00"]), limit=100).records
    filling = [r.asset_materialization.metadata for r in reversed(records)
               if "status" in r.asset_materialization.metadata]
    assert [(m["as_of"].value[11:16], m["minutes_written"].value) for m in filling] == [
        ("23:10", 9), ("23:20", 19), ("23:30", 29), ("23:40", 39), ("23:50", 49)]

    with psycopg.connect(migrated_database) as conn:
        sources = {s.timestamp: s for s in minute_sources(conn, "front", START, START + timedelta(hours=2))}
        frames = dict(conn.execute('SELECT "timestamp", frame_count FROM heatmap_minutes').fetchall())
    assert sorted(sources) == [START + i * MINUTE for i in range(120)]  # every minute, once
    assert set(frames.values()) == {600} and all(s.covered_seconds == 60 for s in sources.values())
    for minute, built in sources.items():
        last_landed = max(recorder.landed[key] for key in built.clip_keys)
        assert built.listed_at - last_landed <= timedelta(minutes=2), (minute, built.listed_at, last_landed)
    assert out_of_order in sources[START + timedelta(minutes=10)].clip_keys
    assert forty_minutes_late in sources[START + timedelta(minutes=5)].clip_keys
    # each hour processed (01:00 without footage too) and each day rolled up once, when its footage was complete
    # (the late clips landed within the hour)
    assert rollups == {**{("heatmap_hours/front", hour): 1 for hour in hours},
                       ("heatmap_days/front", "2026-11-20-00:00"): 1, ("heatmap_days/front", "2026-11-21-00:00"): 1}


def test_a_clip_two_days_late_gets_one_run_for_its_hour_and_redelivery_runs_nothing(tmp_path, migrated_database,
                                                                                    instance):
    recorder = Recorder(tmp_path / "recordings", _segment_file(tmp_path), ["Front"], START)  # nothing live
    defs = _defs(tmp_path, migrated_database, recorder)
    recorder.advance(START + timedelta(days=2))
    cursors, executed = {}, {}
    two_days_late = FRIGATE.key("Front", START + timedelta(minutes=5, seconds=3))

    assert _tick(defs, instance, cursors, executed).run_requests == []
    recorder.due.append((recorder.now, two_days_late))
    recorder.advance(recorder.now)
    first = _tick(defs, instance, cursors, executed)
    again = _tick(defs, instance, cursors, executed)  # a redelivered tick: same inputs, no run
    twice = materialize([asset_def(defs, minutes_key("front"))], resources=defs.resources, instance=instance,
                        tags=first.run_requests[0].tags)  # the same run started twice

    (request,) = first.run_requests
    assert request.run_key.startswith("front:2026-11-20-23:00:2026-11-20-23:00:") and FOLLOW_TAG not in request.tags
    assert again.run_requests == [] and twice.success
    with psycopg.connect(migrated_database) as conn:
        rows = conn.execute('SELECT "timestamp", frame_count FROM heatmap_minutes').fetchall()
    assert rows == [(START + timedelta(minutes=5), 100)]


def test_a_row_from_an_older_listing_never_replaces_a_newer_one(db):
    minute = START
    newer, older = START + timedelta(minutes=5), START + timedelta(minutes=2)
    assert write_minute(db, minute_row("front", minute), MinuteSources("front", minute, ["a.mp4", "b.mp4"], 60.0, {},
                                                                        "new", newer))
    stale = HeatmapMinute(**{**minute_row("front", minute).__dict__, "frame_count": 1})
    assert not write_minute(db, stale, MinuteSources("front", minute, ["a.mp4"], 30.0, {}, "old", older))
    (built,) = minute_sources(db, "front", minute, minute + MINUTE)
    assert built.inputs_fingerprint == "new" and built.clip_keys == ["a.mp4", "b.mp4"]
    assert db.execute("SELECT frame_count FROM heatmap_minutes").fetchone()[0] == 10


def test_freshness_does_not_flap_at_hour_boundaries_and_a_camera_that_stops_alerts_once(
        tmp_path, migrated_database, webhook, monkeypatch, instance):
    monkeypatch.setenv("ROZ_ALERT_WEBHOOK_URL", webhook.url)
    silent = {"Front": (START + timedelta(minutes=20), START + timedelta(minutes=45))}
    recorder = Recorder(tmp_path / "recordings", _segment_file(tmp_path), ["Front"],
                        START + timedelta(hours=2, minutes=5), silent=silent)
    defs = _defs(tmp_path, migrated_database, recorder,
                 cameras="  front: {source_name: Front, retention_days: 36500, stale_after_minutes: 5}\n")
    cursors, executed = {}, {}
    recorder.advance(START + timedelta(seconds=20))
    _tick_stale_sensor_every_minute(recorder, defs, instance, cursors, executed)
    while recorder.now < START + timedelta(hours=1, minutes=20):
        _tick_live(defs, instance, cursors, executed)
        recorder.sleep(30)

    alerts = [body["text"] for body in webhook.received]
    # the footage stops at 23:20: stale once 5 minutes have passed, back when it resumes; nothing at midnight
    assert len(alerts) == 2, alerts
    assert alerts[0].startswith("Camera front is stale: no footage since 2026-11-20 23:20 UTC")
    assert alerts[1].startswith("Camera front is back: footage resumed at 2026-11-20 23:45 UTC")


class Simulation:
    """The test's clock shared by the daemon's ticks (the test's own thread) and the runs following each hour (a
    thread each), as in a deployment where they run side by side. Exactly one of them runs at a time: each
    runs until it sleeps, then the one due earliest continues, the clock moving to its time (landing the clips due
    by then). So the runs interleave deterministically and see the recorder as they would live."""

    def __init__(self, recorder: "Recorder"):
        self.recorder = recorder
        self.baton = threading.Condition()
        self.due: list[tuple[datetime, int, int]] = []  # (wakes at, order, thread id)
        self.order = itertools.count()
        self.holder = threading.get_ident()
        self.failures: list[BaseException] = []
        self.started: list[int] = []  # the threads `start` started, in order
        self.lost: set[int] = set()  # threads whose process is gone: they never wake from their next sleep

    def sleep(self, seconds: float) -> None:
        me = threading.get_ident()
        with self.baton:
            if me in self.lost:  # as a process killed outright: no exception, no clean-up, nothing more
                self._pass_on()
                self.baton.wait_for(lambda: False)
            heapq.heappush(self.due, (self.recorder.now + timedelta(seconds=seconds), next(self.order), me))
            self._pass_on()
            self.baton.wait_for(lambda: self.holder == me)

    def start(self, work) -> None:
        """Run `work` in a thread of its own, from the clock's present, once the caller next sleeps."""
        started = threading.Event()

        def body():
            started.wait()
            with self.baton:
                self.baton.wait_for(lambda: self.holder == threading.get_ident())
            try:
                work()
            except BaseException as exc:  # reported by the test, never lost in the thread
                self.failures.append(exc)
            finally:
                with self.baton:
                    self._pass_on()

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        self.started.append(thread.ident)
        with self.baton:
            heapq.heappush(self.due, (self.recorder.now, next(self.order), thread.ident))
        started.set()

    def others(self) -> int:
        return len(self.due)

    def _pass_on(self) -> None:
        wakes_at, _, who = heapq.heappop(self.due)
        if wakes_at > self.recorder.now:
            self.recorder.sleep((wakes_at - self.recorder.now).total_seconds())
        self.holder = who
        self.baton.notify_all()


def test_three_live_hours_of_two_cameras_side_by_side_across_midnight(tmp_path, migrated_database, webhook,
                                                                      monkeypatch, instance):
    """Two cameras followed by one run per hour for three hours (23:00-02:00), the daemon's sensors ticking: every
    minute stored once, one alert and one recovery for the camera that stops, none for the other, each hour rolled
    up once when it has ended and the day once it is over (the day in progress is not)."""
    monkeypatch.setenv("ROZ_ALERT_WEBHOOK_URL", webhook.url)
    silent = (START + timedelta(minutes=80), START + timedelta(minutes=105))  # back: 00:20 - 00:45
    recorder = Recorder(tmp_path / "recordings", _segment_file(tmp_path), ["Front", "Back"],
                        START + timedelta(hours=3), silent={"Back": silent})
    simulation = Simulation(recorder)
    cameras = "".join(f"  {c}: {{source_name: {c.title()}, retention_days: 36500, stale_after_minutes: 5}}\n"
                      for c in ("front", "back"))
    defs = _defs(tmp_path, migrated_database, recorder, cameras=cameras, sleep=simulation.sleep)
    cursors, executed, rollups = {}, {}, Counter()
    recorder.advance(START + timedelta(seconds=20))
    _tick_stale_sensor_every_minute(recorder, defs, instance, cursors, executed)
    automation = _roll_up(defs, instance, None, rollups)
    while recorder.now < START + timedelta(hours=3, minutes=4):
        _tick_live(defs, instance, cursors, executed, follow=simulation.start)
        automation = _roll_up(defs, instance, automation, rollups)
        simulation.sleep(30)
    recorder.on_tick = lambda: None  # the recording is over (both cameras stop): the stale sensor is not asked
    while simulation.others():  # the run following 02:00, where nothing lands
        simulation.sleep(30)
    assert simulation.failures == []

    follows = sorted(key for key in executed if key.startswith("follow:"))  # one run follows both cameras
    assert follows == [f"follow:{h}:front,back" for h in ("2026-11-20-23:00", "2026-11-21-00:00", "2026-11-21-01:00",
                                                          "2026-11-21-02:00")]  # 02:00 (nothing recorded) too
    assert all(run is not None and run.success for run in executed.values())
    with psycopg.connect(migrated_database) as conn:
        stored = conn.execute('SELECT camera_id, "timestamp", clip_keys, listed_at FROM heatmap_minute_sources')\
            .fetchall()
    minutes = [START + i * MINUTE for i in range(180)]
    assert sorted(m for c, m, _, _ in stored if c == "front") == minutes  # every minute, once
    assert sorted(m for c, m, _, _ in stored if c == "back") == [m for m in minutes if not silent[0] <= m < silent[1]]
    for camera, minute, clip_keys, listed_at in stored:  # both cameras' rows within 2 minutes of their last clip
        assert listed_at - max(recorder.landed[key] for key in clip_keys) <= timedelta(minutes=2), (camera, minute)
    alerts = [body["text"] for body in webhook.received]
    assert len(alerts) == 2 and all(alert.startswith("Camera back ") for alert in alerts), alerts
    assert "is stale: no footage since 2026-11-21 00:20 UTC" in alerts[0]
    assert "is back: footage resumed at 2026-11-21 00:45 UTC" in alerts[1]
    assert rollups == {**{(f"heatmap_hours/{c}", h): 1 for c in ("front", "back")
                          for h in ("2026-11-20-23:00", "2026-11-21-00:00", "2026-11-21-01:00")},
                       **{(f"heatmap_days/{c}", "2026-11-20-00:00"): 1 for c in ("front", "back")}}


# -- live mode when its own processes die -------------------------------------------------------------------------


def _follow_an_hour(tmp_path, database_url, webhook, monkeypatch, on_clock=None, daemon_down=None) -> dict:
    """One camera recording 23:00-00:00, followed on the simulated clock, the daemon's sensors ticking every 30 s
    and the stale sensor (stale_after_minutes: 3) every minute, except while `daemon_down` (start, end); at every
    step of the clock `on_clock(recorder, simulation)`. What happened: the recorder, the run keys asked for, the
    following runs (status, failure message) and the stored minutes' sources."""
    monkeypatch.setenv("ROZ_ALERT_WEBHOOK_URL", webhook.url)
    recorder = Recorder(tmp_path / "recordings", _segment_file(tmp_path), ["Front"], START + timedelta(hours=1))
    simulation = Simulation(recorder)
    defs = _defs(tmp_path, database_url, recorder, sleep=simulation.sleep,
                 cameras="  front: {source_name: Front, retention_days: 36500, stale_after_minutes: 3}\n")
    cursors, executed = {}, {}
    recorder.advance(START + timedelta(seconds=20))

    def daemon_up() -> bool:
        return not (daemon_down and daemon_down[0] <= recorder.now < daemon_down[1])

    with instance_for_test() as instance:
        _tick_stale_sensor_every_minute(recorder, defs, instance, cursors, executed)
        stale_check = recorder.on_tick

        def on_tick():
            if on_clock:
                on_clock(recorder, simulation)
            if daemon_up():
                stale_check()

        recorder.on_tick = on_tick
        while recorder.now < START + timedelta(hours=1, minutes=2):
            if daemon_up():
                _tick_live(defs, instance, cursors, executed, follow=simulation.start)
            simulation.sleep(30)
        recorder.on_tick = lambda: None
        while simulation.others():  # the run following 00:00, where nothing lands
            simulation.sleep(30)
        runs = {record.dagster_run.run_id: (record.dagster_run.status.value, _failure_message(instance, record))
                for record in instance.get_run_records(RunsFilter(job_name=FOLLOW_JOB))}
    assert simulation.failures == []
    with psycopg.connect(database_url) as conn:
        sources = {s.timestamp: s for s in minute_sources(conn, "front", START, START + timedelta(hours=1))}
    return {"recorder": recorder, "run_keys": sorted(executed), "runs": runs, "sources": sources,
            "alerts": [body["text"] for body in webhook.received]}


def _failure_message(instance, record) -> str | None:
    failures = [e for e in instance.all_logs(record.dagster_run.run_id) if e.dagster_event
                and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
    return failures[-1].message if failures else None


def _every_minute_once_and_in_time(happened, allowed: timedelta) -> None:
    sources, recorder = happened["sources"], happened["recorder"]
    assert sorted(sources) == [START + i * MINUTE for i in range(60)]  # every minute, once
    for minute, built in sources.items():
        assert built.covered_seconds == 60, minute
        last_landed = max(recorder.landed[key] for key in built.clip_keys)
        assert built.listed_at - last_landed <= allowed, (minute, built.listed_at, last_landed)


def test_a_following_run_whose_process_is_lost_is_replaced_and_keeps_what_it_stored(tmp_path, migrated_database,
                                                                                   webhook, monkeypatch):
    """The run following 23:00 is lost at 23:20 as a killed pod is (no exception, nobody marks it): it stops
    beating, follow_cameras_sensor marks it failed HEARTBEAT_GRACE later and starts another run for the camera,
    which keeps the minutes stored before and writes the rest. Meanwhile the rows are late because Roz is behind,
    not the camera: the alert says so, once, and once more when Roz has caught up."""
    lost_at = START + timedelta(minutes=20)

    def lose_the_first_follower(recorder, simulation):
        if recorder.now >= lost_at and simulation.started and not simulation.lost:
            simulation.lost.add(simulation.started[0])

    happened = _follow_an_hour(tmp_path, migrated_database, webhook, monkeypatch, on_clock=lose_the_first_follower)

    (lost_run,) = [run_id for run_id, (status, message) in happened["runs"].items()
                   if message and "no heartbeat" in message]
    assert happened["runs"][lost_run][0] == "FAILURE"
    assert happened["run_keys"] == ["follow:2026-11-20-23:00:front", f"follow:2026-11-20-23:00:front:after:{lost_run}",
                                    "follow:2026-11-21-00:00:front"]
    _every_minute_once_and_in_time(happened, timedelta(minutes=2) + HEARTBEAT_GRACE + HEARTBEAT_EVERY)
    kept = [minute for minute, built in happened["sources"].items() if built.listed_at < lost_at]
    assert kept == [START + i * MINUTE for i in range(18)] or kept == [START + i * MINUTE for i in range(19)]
    alerts = happened["alerts"]
    assert len(alerts) == 2, alerts
    assert alerts[0].startswith("Roz is behind on camera front, not the camera: its clips land")
    assert alerts[1].startswith("Roz caught up with camera front")


def test_the_daemon_stopped_for_ten_minutes_loses_and_duplicates_nothing(tmp_path, migrated_database, webhook,
                                                                         monkeypatch):
    """No sensor ticks 23:30-23:40 (the daemon stopped): the run following the hour keeps writing (its own
    process), the ticks after the restart start no second run for the hour and raise no alert."""
    happened = _follow_an_hour(tmp_path, migrated_database, webhook, monkeypatch,
                               daemon_down=(START + timedelta(minutes=30), START + timedelta(minutes=40)))
    assert happened["run_keys"] == ["follow:2026-11-20-23:00:front", "follow:2026-11-21-00:00:front"]
    assert {status for status, _ in happened["runs"].values()} == {"SUCCESS"}
    _every_minute_once_and_in_time(happened, timedelta(minutes=2))
    assert happened["alerts"] == []


def test_postgresql_restarted_during_a_followed_hour_every_minute_is_stored_once(tmp_path, webhook, monkeypatch,
                                                                                own_cluster):
    """`pg_ctl restart` at 23:20: the following run's connection breaks, its step's RetryPolicy runs it again, and
    the retry keeps the minutes stored before the restart (same run, nothing recomputed) and writes the rest."""
    from pgserver._commands import pg_ctl

    from roz_pipeline.storage.migrations import Migrator

    url, server, pgdata = own_cluster  # this test's own PostgreSQL, which it restarts
    Migrator(url, MIGRATIONS).migrate()
    restart_at = START + timedelta(minutes=20)
    restarted = []

    def restart_postgresql(recorder, simulation):
        if recorder.now >= restart_at and not restarted:
            restarted.append(recorder.now)
            pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pgdata, user=server.system_user)

    happened = _follow_an_hour(tmp_path, url, webhook, monkeypatch, on_clock=restart_postgresql)
    assert restarted
    assert happened["run_keys"] == ["follow:2026-11-20-23:00:front", "follow:2026-11-21-00:00:front"]
    assert {status for status, _ in happened["runs"].values()} == {"SUCCESS"}
    _every_minute_once_and_in_time(happened, timedelta(minutes=2))
    kept = [minute for minute, built in happened["sources"].items() if built.listed_at < restart_at]
    assert len(kept) >= 18
    assert happened["alerts"] == []
