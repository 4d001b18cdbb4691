"""Nightly retention and VACUUM, stale-camera alerts through a real webhook, failed-run alerts, gap reports."""

import json
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    build_schedule_context,
    build_sensor_context,
    materialize,
)
from psycopg import sql

from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.defs.health import build_run_failure_alert_sensor
from roz_pipeline.defs.stale import build_stale_cameras_sensor
from roz_pipeline.registry import load_registry
from roz_pipeline.storage.maintenance import delete_expired
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline.storage.partitions import ensure_partitions_between
from roz_pipeline_tests.helpers import (
    T0,
    Clock,
    clip_key,
    local_defs,
    make_clip,
    minute_row,
    registry_file,
    run_range,
    sensor_ticks,
)

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


@pytest.fixture
def registry(tmp_path):
    return registry_file(tmp_path, {"lobby": "retention_days: 1, stale_after_minutes: 5",
                                    "yard": "retention_days: 3, stale_after_minutes: 10"})


def defs_for(registry, tmp_path, database_url, **kwargs):
    start = (NOW - timedelta(days=10)).strftime("%Y-%m-%d")
    return local_defs(registry, tmp_path, database_url, **{"grain": "minute", "partitions_start": start, **kwargs})


# -- retention --------------------------------------------------------------------------------------------------


def test_retention_job_deletes_exactly_each_cameras_expired_rows_and_reports_per_camera(
    registry, tmp_path, db, migrated_database, instance
):
    ages = [timedelta(hours=2), timedelta(hours=23), timedelta(hours=25), timedelta(days=2, hours=12),
            timedelta(days=3, hours=1), timedelta(days=8)]
    for camera in ("lobby", "yard"):
        for age in ages:
            write_minute(db, minute_row(camera, NOW - age))
    defs = defs_for(registry, tmp_path, migrated_database)

    result = defs.resolve_job_def("retention_cleanup_job").execute_in_process(instance=instance)

    assert result.success
    remaining = {camera: sorted(NOW - t for (t,) in db.execute(
        'SELECT "timestamp" FROM heatmap_minutes WHERE camera_id = %s', (camera,))) for camera in ("lobby", "yard")}
    assert remaining["lobby"] == [timedelta(hours=2), timedelta(hours=23)]
    assert remaining["yard"] == [timedelta(hours=2), timedelta(hours=23), timedelta(hours=25),
                                 timedelta(days=2, hours=12)]
    output = result.output_for_node("delete_expired_rows")
    assert output == 4 + 2
    observations = [e.event_specific_data.asset_observation for e in result.all_events
                    if e.event_type == DagsterEventType.ASSET_OBSERVATION]
    deleted = {o.asset_key.path[1]: o.metadata["rows_deleted"].value for o in observations
               if o.asset_key.path[0] == "heatmap_minutes"}
    assert deleted == {"lobby": 4, "yard": 2}
    rollups = sorted(o.asset_key.to_user_string() for o in observations if "rollup_rows_deleted" in o.metadata)
    assert rollups == ["heatmap_days/lobby", "heatmap_days/yard", "heatmap_hours/lobby", "heatmap_hours/yard"]


def test_retention_job_forgets_the_clip_inventory_past_the_late_window(registry, tmp_path, db, migrated_database,
                                                                       instance):
    from roz_pipeline.storage.inventory import StoredClip, clips_starting, upsert_clips

    ages = {"old.mp4": timedelta(days=8, hours=1), "late.mp4": timedelta(days=6)}  # ROZ_LATE_CLIP_DAYS=7, + 1 day
    upsert_clips(db, "file:///x/", [StoredClip(key, "lobby", NOW - age, 1, "v", NOW - age)
                                    for key, age in ages.items()], NOW)
    defs = defs_for(registry, tmp_path, migrated_database)

    result = defs.resolve_job_def("retention_cleanup_job").execute_in_process(instance=instance)

    assert result.success and result.output_for_node("forget_old_clips") == 1
    assert [c.key for c in clips_starting(db, "file:///x/", ["lobby"], NOW - 30 * timedelta(days=1), NOW)] == [
        "late.mp4"]


@pytest.mark.parametrize("removed_days", [None, "2"])
def test_cameras_removed_from_the_registry_are_reported_and_deleted_only_when_asked(
    registry, tmp_path, db, migrated_database, monkeypatch, removed_days, instance
):
    for age in (timedelta(hours=2), timedelta(days=5)):
        write_minute(db, minute_row("garage", NOW - age))  # a camera the registry no longer lists
    if removed_days:
        monkeypatch.setenv("ROZ_REMOVED_CAMERA_RETENTION_DAYS", removed_days)
    defs = defs_for(registry, tmp_path, migrated_database)

    result = defs.resolve_job_def("retention_cleanup_job").execute_in_process(instance=instance)

    (output,) = [e.event_specific_data.metadata for e in result.all_events
                 if e.event_type == DagsterEventType.STEP_OUTPUT and e.step_key == "delete_expired_rows"]
    assert output["removed_cameras"].value == {"garage": 2}
    left = db.execute("SELECT count(*) FROM heatmap_minutes WHERE camera_id = 'garage'").fetchone()[0]
    assert left == (1 if removed_days else 2)
    assert ("deleted past 2 days" if removed_days else "kept") in output["removed_cameras_policy"].value


def test_a_day_rollup_the_cutoff_falls_inside_is_kept_until_the_whole_day_is_past(db):
    from roz_pipeline.storage.rollups import Rollup, delete_expired_rollups, write_rollup

    with db.transaction():  # one now() for the test and the cutoff, whatever the time the test runs at
        (now,) = db.execute("SELECT now()").fetchone()
        cutoff_day = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
        for day in (cutoff_day - timedelta(days=1), cutoff_day):  # the first ended before the cutoff
            write_rollup(db, Rollup("lobby", "day", day, np.ones((4, 4), np.float32), 4.0, 60, 600))

        delete_expired_rollups(db, "lobby", 3)  # the cutoff, now - 3 days, falls inside cutoff_day (unless at 0:00)

    kept = [row[0] for row in db.execute("SELECT period_start FROM heatmap_rollups ORDER BY 1")]
    assert kept == [cutoff_day]


@pytest.mark.parametrize("days", [0, -1])
def test_a_window_below_one_day_deletes_nothing_and_fails(db, days):
    write_minute(db, minute_row("lobby", NOW - timedelta(days=30)))

    with pytest.raises(psycopg.errors.InvalidParameterValue, match="at least 1 day"):
        delete_expired(db, "lobby", days)

    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 1


def test_registry_refuses_a_retention_below_one_day(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text("cameras:\n  lobby: {retention_days: 0}\n")
    with pytest.raises(ValueError, match="retention_days must be at least 1"):
        load_registry(path)


EXPIRED_ROWS = 100_000


def cleanup_beside_a_writer_of_the_same_rows(db, url: str, batch_size: int) -> tuple[int, list[str], int]:
    """Retention deletes 100,000 expired rows while a writer re-writes expired minutes in random order (late
    footage of old minutes being processed again), under lock_timeout=300ms: (rows deleted, the writer's lock
    timeouts, writes)."""
    oldest = floor(NOW - timedelta(days=10), MINUTE)
    ensure_partitions_between(db, oldest - timedelta(minutes=EXPIRED_ROWS), oldest)
    db.execute(
        "INSERT INTO heatmap_minutes (camera_id, \"timestamp\", video_path, height, width, downscale_factor, "
        "intensity_array, frame_count, total_intensity, max_intensity, nonzero_pixels) "
        "SELECT 'lobby', %s - i * interval '1 minute', 'old.mp4', 1, 1, 4, '\\x00', 1, 0, 0, 0 "
        "FROM generate_series(0, %s) AS i", (oldest, EXPIRED_ROWS - 1))
    for minute in range(30):
        write_minute(db, minute_row("lobby", NOW - timedelta(minutes=minute)))  # kept
    deleted = []
    cleanup = threading.Thread(target=lambda: deleted.append(
        delete_expired(psycopg.connect(url, autocommit=True), "lobby", 1, batch_size=batch_size)))
    order = np.random.default_rng(0).permutation(EXPIRED_ROWS)
    timeouts, writes = [], 0
    with psycopg.connect(url, autocommit=True, options="-c lock_timeout=300ms") as writer:
        cleanup.start()
        while cleanup.is_alive() or writes < 20:
            try:
                write_minute(writer, minute_row("lobby", oldest - timedelta(minutes=int(order[writes]))))
            except psycopg.errors.LockNotAvailable as exc:
                timeouts.append(str(exc))
            writes += 1
    cleanup.join()
    return deleted[0] if deleted else 0, timeouts, writes


def test_cleanup_never_blocks_a_writer_of_the_rows_it_deletes_past_its_lock_timeout(db, migrated_database):
    deleted, timeouts, writes = cleanup_beside_a_writer_of_the_same_rows(db, migrated_database, batch_size=1000)

    assert timeouts == [] and writes >= 20
    assert deleted >= EXPIRED_ROWS
    assert db.execute("SELECT count(*) FROM heatmap_minutes WHERE video_path = 'old.mp4'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM heatmap_minutes WHERE \"timestamp\" > %s",
                      (NOW - timedelta(days=1),)).fetchone()[0] == 30


def test_partitions_older_than_the_retention_window_leave_the_asset(registry, tmp_path, migrated_database):
    defs = defs_for(registry, tmp_path, migrated_database, clock=lambda: NOW)
    graph = defs.resolve_asset_graph()

    lobby = graph.get(AssetKey(["heatmap_minutes", "lobby"])).partitions_def  # retention 1 day
    yard = graph.get(AssetKey(["heatmap_minutes", "yard"])).partitions_def  # retention 3 days

    assert lobby.start == (NOW - timedelta(days=1)).replace(hour=0, minute=0) + timedelta(days=1)
    assert yard.start == (NOW - timedelta(days=3)).replace(hour=0, minute=0) + timedelta(days=1)


# -- VACUUM -----------------------------------------------------------------------------------------------------


def test_vacuum_job_reports_size_and_dead_tuples(registry, tmp_path, db, migrated_database, instance):
    for (table,) in db.execute("SELECT c.relname FROM pg_partition_tree('heatmap_minutes') t "
                               "JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf").fetchall():  # VACUUM: the job alone
        db.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(sql.Identifier(table)))
    for i in range(200):
        write_minute(db, minute_row("lobby", NOW - timedelta(minutes=i)))
    db.execute("DELETE FROM heatmap_minutes WHERE extract(minute FROM \"timestamp\")::int % 2 = 0")
    db.execute("SELECT pg_stat_force_next_flush()")  # the dead rows reach the statistics views now, not in a second
    db.execute("SELECT 1")
    defs = defs_for(registry, tmp_path, migrated_database)

    result = defs.resolve_job_def("vacuum_analyze_job").execute_in_process(instance=instance)

    assert result.success
    (output,) = [e.event_specific_data.metadata for e in result.all_events
                 if e.event_type == DagsterEventType.STEP_OUTPUT and e.step_key == "vacuum_analyze_heatmaps"]
    assert output["table_bytes"].value > 0 and output["live_rows"].value == 100
    assert output["dead_rows_before"].value == 100 and output["dead_rows_after"].value == 0
    assert output["duration_s"].value > 0 and output["table_size"].value.endswith("KB")
    tables = output["tables"].value  # every table the VACUUM covers
    assert set(tables) == {"heatmap_minutes", "heatmap_rollups", "heatmap_minute_sources", "heatmap_region_minutes",
                           "heatmap_minute_cells", "clip_inventory"}
    assert tables["heatmap_minutes"]["live_rows"] == 100 and all(t["dead_rows_after"] == 0 for t in tables.values())


# -- schedules --------------------------------------------------------------------------------------------------


def test_schedules_run_retention_then_vacuum_nightly_in_utc(registry, tmp_path, migrated_database, instance):
    defs = defs_for(registry, tmp_path, migrated_database)
    retention = defs.resolve_schedule_def("nightly_retention_cleanup")
    vacuum = defs.resolve_schedule_def("nightly_vacuum_analyze")

    assert (retention.job_name, vacuum.job_name) == ("retention_cleanup_job", "vacuum_analyze_job")
    assert (retention.cron_schedule, vacuum.cron_schedule) == ("5 0 * * *", "35 0 * * *")  # vacuum after retention
    assert retention.execution_timezone == vacuum.execution_timezone == "UTC"
    for schedule, hour, minute in ((retention, 3, 0), (vacuum, 3, 30)):
        tick = datetime(2026, 11, 26, hour, minute, tzinfo=timezone.utc)
        result = schedule.evaluate_tick(build_schedule_context(instance=instance, scheduled_execution_time=tick))
        assert len(result.run_requests) == 1 and result.skip_message is None


# -- stale cameras ----------------------------------------------------------------------------------------------


def stale_sensor_ticks(registry, tmp_path, database_url, webhook_url):
    """tick(minutes_later): one evaluation of the stale-cameras sensor at NOW + minutes_later, its cursor carried."""
    clock, defs = Clock(NOW), defs_for(registry, tmp_path, database_url)
    sensor = build_stale_cameras_sensor(load_registry(registry), clock=clock, webhook_url=webhook_url)
    return sensor_ticks(sensor, defs.resources, clock, NOW)


def test_stale_sensor_alerts_once_per_outage_and_announces_recovery(registry, tmp_path, db, migrated_database, webhook):
    hook = {"url": webhook.url}
    tick = stale_sensor_ticks(registry, tmp_path, migrated_database, lambda: hook["url"])

    for i in range(10):  # lobby records NOW-9 ... NOW; yard never records
        write_minute(db, minute_row("lobby", NOW - timedelta(minutes=9 - i)))

    first = tick(0)
    assert [e.check_name for e in first.asset_events] == ["fresh", "fresh"]
    assert [t["text"] for t in webhook.received] == ["Camera yard has not stored any minute yet."]
    tick(5)  # lobby's newest minute ended 4 min ago: inside its 5-minute grace
    assert len(webhook.received) == 1
    stale = tick(7)
    assert webhook.received[-1]["text"].startswith("Camera lobby is stale: no footage since")
    assert not stale.asset_events[0].passed
    tick(8), tick(20)
    assert len(webhook.received) == 2  # one alert per outage

    hook["url"] = "http://127.0.0.1:9/down"  # the webhook is down when the camera comes back
    for i in range(3):
        write_minute(db, minute_row("lobby", NOW + timedelta(minutes=22 + i)))
    recovered = tick(25)
    assert len(webhook.received) == 2 and json.loads(recovered.cursor)["outbox"]
    assert recovered.asset_events[0].passed
    hook["url"] = webhook.url
    delivered = tick(26)
    assert webhook.received[-1]["text"] == ("Camera lobby is back: footage resumed at "
                                            f"{NOW + timedelta(minutes=22):%Y-%m-%d %H:%M} UTC "
                                            "after an outage of 21 min.")
    assert json.loads(delivered.cursor)["outbox"] == []
    tick(27)
    assert len(webhook.received) == 3


def test_two_hundred_cameras_going_stale_at_once_make_one_alert_and_one_recovery(tmp_path, db, migrated_database,
                                                                                 webhook):
    from roz_pipeline.defs.stale import MAX_CHECK_EVALUATIONS_PER_TICK

    ids = [f"cam-{i:03d}" for i in range(200)]
    registry = registry_file(tmp_path, {c: "stale_after_minutes: 5" for c in ids})
    sensor_tick, evaluated = stale_sensor_ticks(registry, tmp_path, migrated_database, lambda: webhook.url), []

    def tick(minutes_later: int):
        evaluated.append(len(sensor_tick(minutes_later).asset_events))

    for camera_id in ids:
        write_minute(db, minute_row(camera_id, NOW))
    tick(0), tick(1)  # all fresh: no alert; the first look's 200 check evaluations over two ticks
    assert webhook.received == [] and evaluated == [MAX_CHECK_EVALUATIONS_PER_TICK,
                                                    200 - MAX_CHECK_EVALUATIONS_PER_TICK]
    tick(7), tick(8)  # the site's network is down: every camera stale at once
    for camera_id in ids:
        write_minute(db, minute_row(camera_id, NOW + timedelta(minutes=9)))
    tick(10), tick(11)  # back

    stale, back = (alert["text"] for alert in webhook.received)
    assert stale.startswith("200 cameras changed state:\n") and back.startswith("200 cameras changed state:\n")
    assert all(f"Camera {c} is stale" in stale and f"Camera {c} is back" in back for c in ids)
    assert max(evaluated) <= MAX_CHECK_EVALUATIONS_PER_TICK and sum(evaluated[2:]) == 2 * 200


# -- failed runs ------------------------------------------------------------------------------------------------


def test_failed_run_alert_names_the_camera_minutes_and_clip_and_waits_for_a_webhook_that_is_down(
        tmp_path, make_defs, webhook, instance):
    videos = tmp_path / "videos"
    make_clip(videos, "lobby", T0)
    (videos / clip_key("lobby", T0 + timedelta(minutes=1))).write_text("not a video")
    defs = make_defs(grain="minute")
    hook = {"url": "http://127.0.0.1:9/down"}
    sensor = build_run_failure_alert_sensor(webhook_url=lambda: hook["url"])

    cursor = None

    def tick():
        nonlocal cursor
        with build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
            cursor = sensor(context).cursor
        return json.loads(cursor)["outbox"]

    assert tick() == []  # the first tick starts watching from now
    assert not run_range(defs, "lobby", T0, T0 + timedelta(minutes=1), instance).success
    (queued,) = tick()  # the webhook is down: the alert waits
    assert tick() == [queued] and webhook.received == []
    hook["url"] = webhook.url
    assert tick() == []
    assert tick() == []

    (alert,) = webhook.received
    assert alert["text"] == queued
    assert "failed for camera lobby, minutes 2026-11-20-14:00 to 2026-11-20-14:01" in alert["text"]
    assert f"{videos / clip_key('lobby', T0 + timedelta(minutes=1))}: not a video" in alert["text"]


# -- gaps -------------------------------------------------------------------------------------------------------


def test_gaps_command_tells_missing_footage_from_footage_waiting_to_be_processed(db, migrated_database, tmp_path,
                                                                              roz):
    for offset in (0, 1, 4, 5, 9):
        write_minute(db, minute_row("lobby", T0 + timedelta(minutes=offset)))
    for offset in (6, 7):  # in the store, not processed yet
        (tmp_path / "videos" / clip_key("lobby", T0 + timedelta(minutes=offset))).parent.mkdir(parents=True,
                                                                                                exist_ok=True)
        (tmp_path / "videos" / clip_key("lobby", T0 + timedelta(minutes=offset))).write_bytes(b"x")

    result = roz("gaps", "--camera", "lobby", "--from", "2026-11-20T14:00", "--to", "2026-11-20T14:10",
                 env={"DATABASE_URL": migrated_database, "ROZ_VIDEO_ROOT": str(tmp_path / "videos")})

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "2026-11-20 14:02 - 14:03 UTC  2 minute(s) missing",
        "2026-11-20 14:08 - 14:08 UTC  1 minute(s) missing",
        "2026-11-20 14:06 - 14:07 UTC  2 minute(s) waiting to be processed (footage in the store)",
        "3 missing minute(s) in 2 gap(s), 2 waiting to be processed, 0 partly covered minute(s) for camera lobby",
    ]


def test_recent_gaps_check_reports_missing_minutes_since_the_first_row(registry, tmp_path, db, migrated_database,
                                                                       instance):
    for offset in (30, 29, 25, 2, 1):  # minutes before NOW; nothing earlier, so the gap count starts at NOW-30
        write_minute(db, minute_row("lobby", NOW - timedelta(minutes=offset)))
    defs = defs_for(registry, tmp_path, migrated_database, clock=lambda: NOW)
    check_key = AssetCheckKey(AssetKey(["heatmap_minutes", "lobby"]), "recent_gaps")
    checks = [c for c in defs.asset_checks if check_key in c.check_keys]
    camera = next(a for a in defs.assets if getattr(a, "keys", None) and check_key.asset_key in a.keys)

    result = materialize([camera, *checks], selection=AssetSelection.checks(check_key), resources=defs.resources,
                         instance=instance)

    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["missing_minutes"].value == 25
    assert evaluation.metadata["gaps"].value == [
        f"{NOW - timedelta(minutes=28):%Y-%m-%d %H:%M} to {NOW - timedelta(minutes=26):%H:%M}",
        f"{NOW - timedelta(minutes=24):%Y-%m-%d %H:%M} to {NOW - timedelta(minutes=3):%H:%M}",
    ]


def test_each_nightly_step_reports_its_seconds_and_the_wal_it_wrote(registry, tmp_path, db, migrated_database,
                                                                     instance):
    """What a night costs the server, per step: retention, the clip inventory's pruning, VACUUM (ANALYZE)."""
    from roz_pipeline.storage.inventory import StoredClip, upsert_clips

    for minute in range(300):  # expired: lobby keeps 1 day
        write_minute(db, minute_row("lobby", NOW - timedelta(days=2, minutes=minute)))
    upsert_clips(db, "file:///x/", [StoredClip(f"old-{i}.mp4", "lobby", NOW - timedelta(days=9), 1, "v",
                                               NOW - timedelta(days=9)) for i in range(300)], NOW)
    defs = defs_for(registry, tmp_path, migrated_database)

    nights = [defs.resolve_job_def(job).execute_in_process(instance=instance)
              for job in ("retention_cleanup_job", "vacuum_analyze_job")]

    outputs = {e.step_key: e.event_specific_data.metadata for night in nights for e in night.all_events
               if e.event_type == DagsterEventType.STEP_OUTPUT}
    assert outputs.keys() == {"delete_expired_rows", "forget_old_clips", "vacuum_analyze_heatmaps"}
    assert outputs["delete_expired_rows"]["rows_deleted"].value == 300
    assert outputs["forget_old_clips"]["clips_forgotten"].value == 300
    for step, output in outputs.items():
        assert output["duration_s"].value > 0, step
    # At least a WAL record per row deleted (the server's WAL counts every session's: a lower bound only)
    assert outputs["delete_expired_rows"]["wal_bytes"].value > 300 * 50
    assert outputs["forget_old_clips"]["wal_bytes"].value > 300 * 50
    assert outputs["vacuum_analyze_heatmaps"]["wal_bytes"].value > 0  # pages freed and statistics written
