"""Real Dagster runs of the camera assets on real clips from a folder, writing to a real PostgreSQL (from S3:
test_pipeline_s3.py)."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    materialize,
)

from roz_pipeline.core.timesteps import HOUR, MINUTE, floor
from roz_pipeline.lib.keys import RANGE_END_TAG as ASSET_PARTITION_RANGE_END_TAG
from roz_pipeline.lib.keys import RANGE_START_TAG as ASSET_PARTITION_RANGE_START_TAG
from roz_pipeline.lib.keys import camera_run_tags, minutes_key
from roz_pipeline.registry import RegistryError
from roz_pipeline_tests import bad_clips
from roz_pipeline_tests.helpers import (
    MIGRATIONS,
    REGISTRY,
    T0,
    asset_def,
    clip_key,
    local_defs,
    make_clip,
    partition_key,
    registry_file,
    rows,
    run_range,
)


@pytest.fixture
def video_root(tmp_path) -> Path:
    root = tmp_path / "videos"
    root.mkdir()
    return root


def test_definitions_have_one_asset_per_camera_downstream_of_the_schema(make_defs, video_root, migrated_database):
    defs = make_defs(REGISTRY, grain="minute")
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()

    cameras = {k for k in graph.get_all_asset_keys() if k.path[0] == "heatmap_minutes"}
    assert cameras == {AssetKey(["heatmap_minutes", c]) for c in ("lobby", "yard", "dock")}
    for key in cameras:
        node = graph.get(key)
        assert AssetKey("roz_schema") in node.parent_keys and AssetKey("clip_store") in node.parent_keys
        assert node.group_name == "cameras"
        assert node.partitions_def.get_partition_key_for_timestamp(T0.timestamp()) == "2026-11-20-14:00"
        assert node.backfill_policy.max_partitions_per_run == 60
    assert defs.resolve_sensor_def("new_clips_sensor") is not None


def test_invalid_registry_entry_fails_loading_naming_it(tmp_path, video_root, migrated_database):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {}\n  Bad Cam: {}\n")
    with pytest.raises(RegistryError, match="camera 'Bad Cam': invalid camera id"):
        local_defs(registry, video_root, migrated_database, grain="minute")
    registry.write_text("cameras:\n  0042: {}\n")
    with pytest.raises(RegistryError, match="read this camera id as a number; put it in quotes"):
        local_defs(registry, video_root, migrated_database, grain="minute")
    registry.write_text("cameras:\n  lobby: {retention_days: 0}\n")
    with pytest.raises(RegistryError, match="camera 'lobby': retention_days must be at least 1"):
        local_defs(registry, video_root, migrated_database, grain="minute")


def test_ranged_run_writes_good_minutes_reports_missing_and_fails_naming_the_corrupt_clip(
        make_defs, video_root, migrated_database, instance):
    minutes = [T0 + timedelta(minutes=i) for i in range(5)]
    for i in (0, 1, 4):
        make_clip(video_root, "lobby", minutes[i], seed=i)
    corrupt = video_root / clip_key("lobby", minutes[3])
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(5000))  # minute 2 has no clip at all
    defs = make_defs(REGISTRY, grain="minute")

    result = run_range(defs, "lobby", minutes[0], minutes[4], instance)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{corrupt}: not a video FFmpeg can read" in failure and "2026-11-20 14:03" in failure
    stored = rows(migrated_database)
    assert [r[0] for r in stored] == [minutes[0], minutes[1], minutes[4]]
    assert all(r[2] == 12 and r[3] > 0 for r in stored)
    status = instance.get_status_by_partition(
        AssetKey(["heatmap_minutes", "lobby"]), [partition_key(m) for m in minutes],
        defs.resolve_asset_graph().get(AssetKey(["heatmap_minutes", "lobby"])).partitions_def)
    materialized = {k for k, v in status.items() if v.value == "MATERIALIZED"}
    # 14:02 had no footage: processed, and its metadata says so; 14:03's clip is bad: not processed
    assert materialized == {partition_key(minutes[i]) for i in (0, 1, 2, 4)}
    logs = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))
    assert "lobby 2026-11-20 14:02: no clip in the store for 1 minute(s) (14:02)" in logs


def test_rerunning_a_range_changes_nothing_but_processed_at(make_defs, video_root, migrated_database, instance):
    minutes = [T0 + timedelta(minutes=i) for i in range(3)]
    for i, minute in enumerate(minutes):
        make_clip(video_root, "lobby", minute, seed=i)
    defs = make_defs(REGISTRY, grain="minute")

    assert run_range(defs, "lobby", minutes[0], minutes[2], instance).success
    first = rows(migrated_database)
    assert run_range(defs, "lobby", minutes[0], minutes[2], instance).success
    second = rows(migrated_database)

    assert len(first) == len(second) == 3
    assert [r[:4] + (r[5],) for r in first] == [r[:4] + (r[5],) for r in second]
    assert all(b[4] > a[4] for a, b in zip(first, second))


def test_first_run_migrates_an_empty_database(tmp_path, video_root, empty_database, instance):
    make_clip(video_root, "lobby", T0)
    defs = local_defs(registry_file(tmp_path, REGISTRY), video_root, empty_database, grain="minute")

    assert run_range(defs, "lobby", T0, T0, instance).success

    assert len(rows(empty_database)) == 1
    with psycopg.connect(empty_database) as conn:
        assert (conn.execute("SELECT count(*) FROM roz_schema_history").fetchone()[0]
                == len(list(MIGRATIONS.glob("*.sql"))))


def test_run_metadata_has_per_minute_numbers_and_one_picture(make_defs, video_root, migrated_database, instance):
    minutes = [T0 + timedelta(minutes=i) for i in range(2)]
    for minute in minutes:
        make_clip(video_root, "lobby", minute)
    defs = make_defs(REGISTRY, grain="minute")

    result = run_range(defs, "lobby", minutes[0], minutes[1], instance)
    materializations = result.asset_materializations_for_node("heatmap_minutes__lobby")

    by_partition = {m.partition: m.metadata for m in materializations}
    assert set(by_partition) == {partition_key(m) for m in minutes}
    first = by_partition[partition_key(minutes[0])]
    assert first["frame_count"].value == 12 and first["minutes_written"].value == 1
    assert first["compressed_bytes"].value > 0 and first["total_intensity"].value > 0
    pictures = [m for m in by_partition.values() if "preview" in m]
    assert len(pictures) == 1
    picture = pictures[0]["preview"].value
    assert "data:image/jpeg;base64," in picture and len(picture) < 40_000


def test_sensor_requests_ranged_runs_per_camera_and_nothing_new_on_the_next_tick(make_defs, video_root,
                                                                                 migrated_database, instance):
    for i in list(range(0, 3)) + list(range(5, 7)):  # lobby: 14:00-14:02 and 14:05-14:06 (a gap)
        make_clip(video_root, "lobby", T0 + timedelta(minutes=i))
    make_clip(video_root, "yard", T0 + timedelta(minutes=1))
    make_clip(video_root, "lobby", T0 + timedelta(minutes=30))  # still in progress at the sensor's clock
    make_clip(video_root, "garage", T0)  # not registered
    (video_root / "lobby" / "2026-11-20" / "notes.txt").write_text("hi")
    defs = make_defs(REGISTRY, grain="minute",
                      clock=lambda: T0 + timedelta(minutes=30, seconds=20))
    sensor = defs.resolve_sensor_def("new_clips_sensor")

    context = build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
    result = sensor(context)
    requests = sorted((r.tags["camera"], r.run_key.rsplit(":", 1)[0]) for r in result.run_requests)
    assert requests == [
        ("lobby", "lobby:2026-11-20-14:00:2026-11-20-14:02"),
        ("lobby", "lobby:2026-11-20-14:05:2026-11-20-14:06"),
        ("yard", "yard:2026-11-20-14:01:2026-11-20-14:01"),
    ]
    ranged = next(r for r in result.run_requests if r.run_key.rsplit(":", 1)[0].endswith("14:02"))
    assert ranged.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-11-20-14:00"
    assert ranged.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-11-20-14:02"
    (check,) = result.asset_events
    problems = check.metadata["new_problems"].value
    assert not check.passed and "garage/: camera is not in the registry" in problems
    assert any("notes.txt" in p for p in problems)

    again = sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources,
                                        cursor=result.cursor))
    assert again.run_requests == [] and again.asset_events == []  # same problems: not reported again
    (video_root / "lobby" / "2026-11-20" / "more-notes.txt").write_text("hi")
    third = sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources,
                                        cursor=again.cursor))
    assert third.asset_events[0].metadata["new_problems"].value == [
        "'lobby/2026-11-20/more-notes.txt' is not {camera}/%Y-%m-%d/%H-%M.<mp4|mkv|avi|mov>"]
    # the cursor remembers the partitions asked for that no run has read yet; 14:30 is still in progress
    assert sorted(key for key in json.loads(again.cursor)["requested"] if key.startswith("lobby ")) == [
        f"lobby {partition_key(T0 + timedelta(minutes=i))}" for i in (0, 1, 2, 5, 6)]


def test_sensor_groups_at_most_sixty_minutes_per_run(make_defs, video_root, migrated_database, instance):
    for i in range(75):
        path = video_root / clip_key("dock", T0 + timedelta(minutes=i))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")  # the sensor lists keys; it does not open clips
    defs = make_defs(REGISTRY, grain="minute",
                      clock=lambda: T0 + timedelta(hours=3))

    result = defs.resolve_sensor_def("new_clips_sensor")(build_sensor_context(instance=instance, definitions=defs,
                                                                              resources=defs.resources))

    assert sorted(r.run_key.rsplit(":", 1)[0] for r in result.run_requests) == [
        "dock:2026-11-20-14:00:2026-11-20-14:59", "dock:2026-11-20-15:00:2026-11-20-15:14"]


def test_hour_grain_partition_processes_every_minute_of_its_hour(make_defs, video_root, migrated_database, instance):
    for i in (0, 1, 59):
        make_clip(video_root, "lobby", T0 + timedelta(minutes=i))
    defs = make_defs(REGISTRY, grain="hour")
    asset_key = AssetKey(["heatmap_minutes", "lobby"])

    result = materialize([asset_def(defs, asset_key)], resources=defs.resources,
                         instance=instance, partition_key="2026-11-20-14:00")

    assert result.success
    assert [r[0].minute for r in rows(migrated_database)] == [0, 1, 59]
    (materialization,) = result.asset_materializations_for_node("heatmap_minutes__lobby")
    assert materialization.metadata["minutes_written"].value == 3
    assert materialization.metadata["minutes_missing"].value == 57


def test_minutes_without_footage_are_logged_once_a_partition_as_ranges_and_minutes_to_come_not_at_all(
        make_defs, video_root, migrated_database, instance):
    for i in (0, 1, 20):
        make_clip(video_root, "lobby", T0 + timedelta(minutes=i))
    now = T0 + timedelta(minutes=52, seconds=30)  # 14:52 is under way, 14:53-14:59 are to come
    defs = make_defs(REGISTRY, grain="hour", clock=lambda: now)

    result = materialize([asset_def(defs, minutes_key("lobby"))], resources=defs.resources, instance=instance,
                         partition_key="2026-11-20-14:00")
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)
            if "no clip in the store" in entry.user_message]

    assert result.success
    assert logs == ["lobby 2026-11-20 14:00: no clip in the store for 49 minute(s) (14:02-14:19, 14:21-14:51)"]
    (materialization,) = result.asset_materializations_for_node("heatmap_minutes__lobby")
    assert materialization.metadata["minutes_missing"].value == 49


def test_a_run_over_the_hour_in_progress_records_its_materialization_under_the_hours_key(
        make_defs, video_root, migrated_database, instance):
    now = datetime.now(timezone.utc)
    minute = floor(now, MINUTE) - MINUTE  # a minute that has ended, in the hour in progress or the one before
    hour_key = floor(minute, HOUR).strftime("%Y-%m-%d-%H:%M")
    make_clip(video_root, "lobby", minute)
    defs = make_defs(REGISTRY, grain="hour")

    result = materialize([asset_def(defs, minutes_key("lobby"))], resources=defs.resources, instance=instance,
                         tags=camera_run_tags("lobby", hour_key, hour_key))
    recorded = instance.get_latest_materialization_event(minutes_key("lobby")).asset_materialization

    assert result.success
    assert recorded.partition == hour_key  # Dagster records no key for a partition its definition does not list
    assert recorded.metadata["minutes_written"].value == 1


def test_roz_materialize_processes_every_hour_rolls_them_up_and_says_what_it_found(tmp_path, roz,
                                                                                   migrated_database):
    """The hour 14:00 has four minutes of footage (one clip damaged), 15:00 none: both are processed (materialized, as a
    UI backfill over them succeeds), their hours and day rolled up in the same call, so `roz timeline` answers at once
    (no daemon), and the summary counts what was found."""
    registry, videos = registry_file(tmp_path), tmp_path / "videos"
    for minute in range(3):
        make_clip(videos, "lobby", T0 + timedelta(minutes=minute), seed=minute)
    bad_clips.truncated(videos / clip_key("lobby", T0 + timedelta(minutes=3)), faststart=True)  # read in part
    env = {**os.environ, "DATABASE_URL": migrated_database, "ROZ_HOME": str(tmp_path / "home"),
           "ROZ_CAMERAS_FILE": str(registry), "ROZ_VIDEO_ROOT": str(videos), "ROZ_PARTITIONS_START": "2026-11-19"}
    env.pop("DAGSTER_HOME", None)

    materialized = subprocess.run([sys.executable, "-m", "roz_pipeline.cli", "materialize", "--camera", "lobby",
                                   "--from", "2026-11-20T14:00", "--to", "2026-11-20T16:00"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
    timeline = roz("timeline", "--camera", "lobby", "--from", "2026-11-20T14:00", "--to", "2026-11-20T16:00",
                   env={key: env[key] for key in ("DATABASE_URL", "ROZ_HOME", "ROZ_CAMERAS_FILE", "ROZ_VIDEO_ROOT")})

    assert materialized.returncode == 0, materialized.stderr[-3000:]
    assert materialized.stdout.strip().splitlines()[-1] == (
        "lobby: 2 partition(s) processed: 4 minute(s) written (4 partly covered), 116 without footage, 1 damaged "
        "clip(s) read in part; rollups: 2 hour(s), 1 day(s)")
    assert "DEBUG" not in materialized.stdout + materialized.stderr  # the runs' events are in the UI
    assert "WARNING" not in materialized.stdout + materialized.stderr  # what they warn of is in the summary
    assert "No dagster instance configuration file" not in materialized.stderr  # the instance folder is Roz's
    with DagsterInstance.from_config(str(tmp_path / "home" / "dagster")) as instance:
        assert instance.get_materialized_partitions(minutes_key("lobby")) == {"2026-11-20-14:00", "2026-11-20-15:00"}
    assert timeline.returncode == 0 and "2026-11-20 14:00" in timeline.stdout, timeline
