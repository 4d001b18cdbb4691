"""Hourly and daily rollups (sums of the minutes, kept up by declarative automation, with their own retention) and
the questions answered from them: patterns, comparisons, timelines, CSV, pictures."""

import base64
import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import psycopg
import pytest
from dagster import AssetKey, DagsterEventType, DagsterRun, DagsterRunStatus, materialize

from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.render import (
    CELL_WIDTH,
    LABEL_WIDTH,
    NO_DATA_COLOR,
    week_cell,
    week_cell_color,
)
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.lib.keys import camera_run_tags, minutes_key
from roz_pipeline.registry import RegistryError, load_registry
from roz_pipeline.storage.minutes import HeatmapMinute, minutes_between, write_minute
from roz_pipeline.storage.rollups import rollups_between
from roz_pipeline.storage.seed_queries import hour_of_day_minutes
from roz_pipeline.usecases.insight import compare_periods, hour_of_day_pattern, period_heatmap, write_hourly_csv
from roz_pipeline.usecases.rollups import roll_up_day, roll_up_hour
from roz_pipeline_tests.helpers import (
    T0,
    asset_def,
    cell_is,
    make_clip,
    partition_key,
    registry_file,
    rollup_requests,
    run_range,
)

LONG_AGO = datetime(2000, 1, 1, tzinfo=timezone.utc)  # "every source is still retained"
SHAPE = (9, 16)


def known_map(seed: int) -> np.ndarray:
    """A minute's counts: whole numbers, as the engine produces, so sums in any order are exact."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 12, SHAPE) * (rng.random(SHAPE) < 0.3)).astype(np.float32)


def store(conn, camera: str, minute: datetime, heatmap: np.ndarray, frames: int = 900) -> None:
    write_minute(conn, HeatmapMinute(
        camera, minute, f"{camera}/{minute:%Y-%m-%d/%H-%M}.mp4", heatmap.shape[0], heatmap.shape[1], 4,
        encode_intensity(heatmap), frames, float(heatmap.sum()), float(heatmap.max()), int(np.count_nonzero(heatmap))))


def roll_up(conn, camera: str, first_hour: datetime, hours: int) -> None:
    for i in range(hours):
        roll_up_hour(conn, camera, first_hour + timedelta(hours=i), LONG_AGO)
    days = {(first_hour + timedelta(hours=i)).replace(hour=0) for i in range(hours)}
    for day in sorted(days):
        roll_up_day(conn, camera, day, LONG_AGO)


# -- rollups are sums of their sources ------------------------------------------------------------------------------


def test_hour_and_day_rollups_equal_the_sum_of_their_minutes(db):
    day = datetime(2026, 11, 20, tzinfo=timezone.utc)
    minutes = {day + timedelta(hours=h, minutes=m): known_map(h * 60 + m) for h in (9, 14) for m in (0, 1, 7, 59)}
    for minute, heatmap in minutes.items():
        store(db, "lobby", minute, heatmap)
    store(db, "lobby", day + timedelta(hours=14, minutes=30), np.ones((18, 32), np.float32))  # factor changed

    roll_up(db, "lobby", day, 24)

    hours = {h.period_start: h for h in rollups_between(db, "lobby", "hour", day, day + timedelta(days=1))}
    assert sorted(hours) == [day + timedelta(hours=9), day + timedelta(hours=14)]  # hours without minutes: no row
    nine = hours[day + timedelta(hours=9)]
    np.testing.assert_array_equal(nine.heatmap, sum(v for k, v in minutes.items() if k.hour == 9))
    assert (nine.minutes_covered, nine.frame_count) == (4, 3600)
    assert hours[day + timedelta(hours=14)].minutes_covered == 4  # the odd-sized minute is left out, not added
    (whole_day,) = rollups_between(db, "lobby", "day", day, day + timedelta(days=1))
    np.testing.assert_array_equal(whole_day.heatmap, sum(minutes.values()))
    assert whole_day.minutes_covered == 8
    stored_total = db.execute("SELECT total_intensity FROM heatmap_daily WHERE camera_id = 'lobby'").fetchone()[0]
    assert stored_total == pytest.approx(float(sum(minutes.values()).sum()))


def test_a_rollup_is_kept_when_its_minutes_may_be_past_retention(db):
    hour = datetime(2026, 11, 20, 14, tzinfo=timezone.utc)
    for m in range(3):
        store(db, "lobby", hour + timedelta(minutes=m), known_map(m))
    roll_up_hour(db, "lobby", hour, LONG_AGO)
    db.execute("DELETE FROM heatmap_minutes WHERE \"timestamp\" > %s", (hour,))  # retention took two of them

    outcome = roll_up_hour(db, "lobby", hour, minutes_kept_since=hour + timedelta(days=1))

    assert outcome.status == "kept"
    (stored,) = rollups_between(db, "lobby", "hour", hour, hour + timedelta(hours=1))
    assert stored.minutes_covered == 3
    np.testing.assert_array_equal(stored.heatmap, known_map(0) + known_map(1) + known_map(2))


def test_registry_refuses_rollups_that_would_outlive_less_than_the_minutes(tmp_path):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  lobby: {retention_days: 90, rollup_retention_days: 30}\n")
    with pytest.raises(RegistryError, match="rollup_retention_days must be at least 90"):
        load_registry(registry)
    registry.write_text("cameras:\n  lobby: {retention_days: 900}\n")
    assert load_registry(registry)["lobby"].rollup_retention_days == 900


# -- the questions -----------------------------------------------------------------------------------------------


def test_pattern_from_rollups_equals_the_seed_query_decompressed_minute_by_minute(db):
    now = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
    rng = np.random.default_rng(7)
    for day in range(9):
        for hour in (13, 14, 15):
            for minute in rng.choice(60, size=6, replace=False):
                when = now.replace(hour=hour) - timedelta(days=day, minutes=-int(minute))
                if when < now:
                    store(db, "lobby", when, known_map(int(when.timestamp()) // 60))
    roll_up(db, "lobby", (now - timedelta(days=9)).replace(hour=0), 24 * 10)

    from_rollups = hour_of_day_pattern(db, "lobby", 14, days=7, now=now)
    seed_minutes = hour_of_day_minutes(db, "lobby", 14, days=7, now=now)  # the seed's query 3

    assert from_rollups.minutes == len(seed_minutes) == 7 * 6
    np.testing.assert_array_equal(from_rollups.total, np.sum([m.heatmap for m in seed_minutes], axis=0))


def test_a_period_sums_rollups_for_whole_hours_and_minutes_for_the_rest(db):
    start = datetime(2026, 11, 20, 13, 50, tzinfo=timezone.utc)
    minutes = {start + timedelta(minutes=i): known_map(i) for i in range(0, 150, 3)}
    for minute, heatmap in minutes.items():
        store(db, "lobby", minute, heatmap)
    roll_up_hour(db, "lobby", datetime(2026, 11, 20, 14, tzinfo=timezone.utc), LONG_AGO)  # 15:00 not rolled up
    db.execute("UPDATE heatmap_minutes SET intensity_array = %s WHERE \"timestamp\" = %s",
               (encode_intensity(np.full(SHAPE, 1000, np.float32)), datetime(2026, 11, 20, 14, 2, tzinfo=timezone.utc)))

    period = period_heatmap(db, "lobby", start, start + timedelta(minutes=150))

    # 14:xx came from the rollup (the minute changed behind its back is not read); the rest from the minutes
    np.testing.assert_array_equal(period.total, sum(minutes.values()))
    assert period.minutes == len(minutes)
    with pytest.raises(LookupError, match="nothing stored"):
        period_heatmap(db, "lobby", start - timedelta(days=1), start - timedelta(hours=20))


def test_a_long_period_sums_day_rollups_for_whole_days_hours_and_minutes_for_the_rest(db):
    start = datetime(2026, 11, 19, 22, 30, tzinfo=timezone.utc)  # 22:30 on the 19th to 01:30 on the 22nd
    minutes = {start + timedelta(minutes=i): known_map(i) for i in range(0, 51 * 60, 37)}
    for minute, heatmap in minutes.items():
        store(db, "lobby", minute, heatmap)
    roll_up(db, "lobby", datetime(2026, 11, 19, 23, tzinfo=timezone.utc), 49)  # the hours 23:00 .. 23:00, the days
    changed = next(minute for minute in minutes if minute.day == 21)  # behind the rollups' back: must not be read
    db.execute("UPDATE heatmap_minutes SET intensity_array = %s WHERE \"timestamp\" = %s",
               (encode_intensity(np.full(SHAPE, 1000, np.float32)), changed))
    db.execute("DELETE FROM heatmap_rollups WHERE grain = 'hour' AND period_start >= '2026-11-21'")

    period = period_heatmap(db, "lobby", start, start + timedelta(hours=51))

    # the 21st from its day rollup (its hours are gone), the 20th too, the edges from hours and minutes
    np.testing.assert_array_equal(period.total, sum(minutes.values()))
    assert period.minutes == len(minutes)


def test_compare_shows_where_activity_rose_and_fell(db):
    before_day, after_day = (datetime(2026, 11, d, 14, tzinfo=timezone.utc) for d in (13, 20))
    left, right = np.zeros(SHAPE, np.float32), np.zeros(SHAPE, np.float32)
    left[:, :8], right[:, 8:] = 4, 6
    for m in range(10):
        store(db, "lobby", before_day + timedelta(minutes=m), left + right)
        store(db, "lobby", after_day + timedelta(minutes=m), right * 2)  # left side empty, right side doubled

    comparison = compare_periods(db, "lobby", (before_day, before_day + timedelta(hours=1)),
                                 (after_day, after_day + timedelta(hours=1)))

    assert comparison.rose_pixels == comparison.fell_pixels == 9 * 8
    np.testing.assert_array_equal(comparison.difference[:, :8], -4)
    np.testing.assert_array_equal(comparison.difference[:, 8:], 6)
    assert comparison.activity_change == pytest.approx((12 * 8 - 10 * 8) / (10 * 8))

    quiet = datetime(2026, 11, 6, 14, tzinfo=timezone.utc)
    for m in range(10):
        store(db, "lobby", quiet + timedelta(minutes=m), np.zeros(SHAPE, np.float32))  # footage, no motion
    from_nothing = compare_periods(db, "lobby", (quiet, quiet + timedelta(hours=1)),
                                   (after_day, after_day + timedelta(hours=1)))
    assert from_nothing.activity_change is None  # no ratio to a motionless baseline (never "+inf%")


def test_hourly_csv_has_one_row_per_camera_hour(db):
    hour = datetime(2026, 11, 20, 14, tzinfo=timezone.utc)
    for camera in ("lobby", "yard"):
        for m in range(3):
            store(db, camera, hour + timedelta(minutes=m), known_map(m))
        roll_up_hour(db, camera, hour, LONG_AGO)
    out = io.StringIO()

    count = write_hourly_csv(db, ["lobby", "yard"], hour, hour + timedelta(hours=1), out)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert count == 2 and [r["camera_id"] for r in rows] == ["lobby", "yard"]
    total = float(sum(known_map(m).sum() for m in range(3)))
    assert rows[0] == {"camera_id": "lobby", "hour_utc": "2026-11-20T14:00:00Z", "minutes_covered": "3",
                       "frame_count": "2700", "total_intensity": f"{total:.1f}",
                       "activity_per_minute": f"{total / 3:.1f}", "max_intensity": rows[0]["max_intensity"],
                       "nonzero_pixels": str(int(np.count_nonzero(sum(known_map(m) for m in range(3)))))}


def test_insight_commands_answer_from_the_database(db, migrated_database, tmp_path, roz):
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for day in range(3):
        for m in range(5):
            store(db, "lobby", now - timedelta(days=day, hours=1) + timedelta(minutes=m), known_map(day * 10 + m))
    roll_up(db, "lobby", (now - timedelta(days=3)).replace(hour=0), 24 * 4)
    registry = registry_file(tmp_path, {"lobby": {}})
    env = {"DATABASE_URL": migrated_database, "ROZ_VIDEO_ROOT": str(tmp_path / "none"),
           "ROZ_CAMERAS_FILE": str(registry)}
    hour = (now - timedelta(hours=1)).hour
    today = (now - timedelta(hours=1)).strftime("%Y-%m-%d")
    window = ["--from", (now - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M"), "--to", now.strftime("%Y-%m-%dT%H:%M")]

    def answer(*args):
        result = roz(*args, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert f"{today} {hour:02d}:00 UTC" in answer("busiest", "--camera", "lobby", "--date", today)
    assert "15 minute(s) from the hour rollups" in answer("pattern", "--camera", "lobby", "--hour", str(hour),
                                                        "--days", "4", "--png", str(tmp_path / "pattern.png"))
    assert cv2.imread(str(tmp_path / "pattern.png"), cv2.IMREAD_UNCHANGED).shape == (270 + 30, 480, 4)
    assert len(answer("timeline", "--camera", "lobby", *window).splitlines()) == 3
    assert len(answer("timeline", "--camera", "lobby", "--by", "day", *window).splitlines()) in (3, 4)
    assert "3 camera-hour(s) of lobby" in answer("export", *window, "--out", str(tmp_path / "hours.csv"))
    baseline = now - timedelta(days=2, hours=1)
    compared = answer("heatmap", "compare", "--camera", "lobby", "--from", (now - timedelta(hours=1)).isoformat(),
                   "--to", now.isoformat(), "--baseline-from", baseline.isoformat(),
                   "--baseline-to", (baseline + timedelta(hours=1)).isoformat(), "--out", str(tmp_path / "diff.png"))
    assert "5 minute(s) against a baseline of 5 minute(s)" in compared
    image = cv2.imread(str(tmp_path / "diff.png"))
    assert image.shape == (270 + 30, 480, 3)  # the 16x9 map drawn at the minimum width, and the legend
    reds, blues = image[:270, :, 2].astype(int) - image[:270, :, 0], image[:270, :, 0].astype(int) - image[:270, :, 2]
    assert reds.max() > 100 and blues.max() > 100  # both more and less motion are drawn

    nothing = roz("pattern", "--camera", "lobby", "--hour", str((hour + 12) % 24), "--days", "1", env=env)
    assert nothing.returncode == 1 and "no hour rollup" in nothing.stderr and "Traceback" not in nothing.stderr

    def refused(*args):
        result = roz(*args, env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        return result.stderr

    backwards = ["--from", now.isoformat(), "--to", (now - timedelta(hours=1)).isoformat()]
    for command in (["timeline", "--camera", "lobby"], ["export", "--out", str(tmp_path / "x.csv")],
                    ["gaps", "--camera", "lobby"], ["heatmap", "render", "--camera", "lobby", "--out", "x.png"],
                    ["materialize", "--camera", "lobby"]):
        assert "--to must be after --from" in refused(*command, *backwards)
    assert "camera 'garage' is not in the registry" in refused("materialize", "--camera", "garage", *window)


# -- in Dagster ------------------------------------------------------------------------------------------------


def automation_runs(defs, instance, cursor=None):
    """What the rollup automation requests now, as {asset key: partition keys}."""
    return rollup_requests(defs, instance, cursor)


def materialize_partitions(defs, key, partitions, instance):
    results = [materialize([asset_def(defs, key)], resources=defs.resources, instance=instance, partition_key=p)
               for p in partitions]
    assert all(r.success for r in results)
    return results


def test_reprocessed_minutes_update_their_hour_and_day_through_automation(make_defs, tmp_path, migrated_database,
                                                                          instance):
    videos = tmp_path / "videos"
    for i in range(3):
        make_clip(videos, "lobby", T0 + timedelta(minutes=i), seed=i)
    defs = make_defs(grain="minute")
    hours, days = AssetKey(["heatmap_hours", "lobby"]), AssetKey(["heatmap_days", "lobby"])

    _, cursor = automation_runs(defs, instance)  # first tick: nothing updated yet
    assert run_range(defs, "lobby", T0, T0 + timedelta(minutes=2), instance).success
    requested, cursor = automation_runs(defs, instance, cursor)
    assert requested == {hours: ["2026-11-20-14:00"]}  # the day waits for its hour
    hour_runs = materialize_partitions(defs, hours, requested[hours], instance)
    requested, cursor = automation_runs(defs, instance, cursor)
    assert requested == {days: ["2026-11-20-00:00"]}
    day_runs = materialize_partitions(defs, days, requested[days], instance)
    assert automation_runs(defs, instance, cursor)[0] == {}
    with psycopg.connect(migrated_database) as conn:
        first_day = rollups_between(conn, "lobby", "day", T0.replace(hour=0), T0 + timedelta(days=1))[0].heatmap

    # a longer walk replaces the 14:01 clip; re-processing that minute must reach the hour and the day
    _replace_with_two_walkers(videos / f"lobby/{T0:%Y-%m-%d}/14-01.mp4")
    assert run_range(defs, "lobby", T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), instance).success
    requested, cursor = automation_runs(defs, instance, cursor)
    assert requested == {hours: ["2026-11-20-14:00"]}
    materialize_partitions(defs, hours, requested[hours], instance)
    requested, cursor = automation_runs(defs, instance, cursor)
    materialize_partitions(defs, days, requested[days], instance)

    with psycopg.connect(migrated_database) as conn:
        minutes = period_minutes_sum(conn, T0, T0 + timedelta(hours=1))
        (hour,) = rollups_between(conn, "lobby", "hour", T0, T0 + timedelta(hours=1))
        (day,) = rollups_between(conn, "lobby", "day", T0.replace(hour=0), T0 + timedelta(days=1))
    np.testing.assert_array_equal(hour.heatmap, minutes)
    np.testing.assert_array_equal(day.heatmap, minutes)
    assert not np.array_equal(day.heatmap, first_day)

    metadata = next(e for e in hour_runs[0].all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION) \
        .event_specific_data.materialization.metadata
    assert metadata["minutes_covered"].value == 3 and metadata["status"].value == "written"
    assert _png(metadata["preview"].value).shape == (135 + 30, 240, 3)  # over the clip's still, with the legend

    day_metadata = next(e for e in day_runs[0].all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION) \
        .event_specific_data.materialization.metadata
    pictures = {name: _png(day_metadata[name].value) for name in ("day", "activity_by_hour", "week_pattern")}
    assert pictures["day"].shape == (270 + 30, 480, 3)  # the day over the still, with the legend
    bars, week = pictures["activity_by_hour"], pictures["week_pattern"]
    assert bars.shape[1] == week.shape[1] == LABEL_WIDTH + 24 * CELL_WIDTH
    # the four weeks' only data: the day's 14:00 hour, drawn at full colour; its 13:00 had no footage
    assert cell_is(week, week_cell(T0.weekday(), 14), week_cell_color(1.0, 1.0))
    assert cell_is(week, week_cell(T0.weekday(), 13), NO_DATA_COLOR)


def _png(markdown: str) -> np.ndarray:
    png = base64.b64decode(markdown.split("base64,")[1].rstrip(")"))
    assert png.startswith(b"\x89PNG")
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def _replace_with_two_walkers(path):
    write_clip(path, width=320, height=180, frames=12, seed=9,
               walkers=(Walker(start=(0, 80), end=(280, 80), size=(16, 40)),
                        Walker(start=(280, 20), end=(0, 20), size=(16, 30))))


def period_minutes_sum(conn, start, end) -> np.ndarray:
    return np.sum([m.heatmap for m in minutes_between(conn, "lobby", start, end)], axis=0)


def test_retention_deletes_minutes_and_leaves_their_rollups(db, make_defs, instance):
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    old_hour, ancient_hour = now - timedelta(days=3), now - timedelta(days=12)
    for hour in (old_hour, ancient_hour):
        for m in range(4):
            store(db, "lobby", hour + timedelta(minutes=m), known_map(m))
        roll_up(db, "lobby", hour, 1)
    before = rollups_between(db, "lobby", "hour", old_hour, old_hour + timedelta(hours=1))[0]
    defs = make_defs({"lobby": "retention_days: 2, rollup_retention_days: 10"}, grain="minute")

    assert defs.resolve_job_def("retention_cleanup_job").execute_in_process(instance=instance).success
    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 0
    # the old hour's partition re-run after its minutes are gone keeps the rollup
    hours = AssetKey(["heatmap_hours", "lobby"])
    (result,) = materialize_partitions(defs, hours, [partition_key(old_hour)], instance)

    (after,) = rollups_between(db, "lobby", "hour", now - timedelta(days=20), now)
    assert after.period_start == old_hour and after.minutes_covered == 4
    np.testing.assert_array_equal(after.heatmap, before.heatmap)
    assert rollups_between(db, "lobby", "day", now - timedelta(days=20), now - timedelta(days=11)) == []
    statuses = [e.event_specific_data.materialization.metadata["status"].value for e in result.all_events
                if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    assert statuses == ["kept"]


def test_the_hour_in_progress_is_rolled_up_only_once_it_has_ended(make_defs, tmp_path, migrated_database, instance):
    videos = tmp_path / "videos"
    this_hour = floor(datetime.now(timezone.utc), HOUR)
    last_hour = this_hour - timedelta(hours=1)
    for minute in (last_hour + timedelta(minutes=30), this_hour):
        make_clip(videos, "lobby", minute)
    defs = make_defs(grain="hour")
    hours = AssetKey(["heatmap_hours", "lobby"])

    _, cursor = automation_runs(defs, instance)
    for hour in (last_hour, this_hour):  # the hour in progress too, as the run following it does
        key = hour.strftime("%Y-%m-%d-%H:%M")
        assert materialize([asset_def(defs, minutes_key("lobby"))], resources=defs.resources, instance=instance,
                           tags=camera_run_tags("lobby", key, key)).success
    requested, _ = automation_runs(defs, instance, cursor)

    assert requested.get(hours) == [last_hour.strftime("%Y-%m-%d-%H:%M")]


def test_an_ended_hour_waits_for_the_run_still_writing_its_minutes(make_defs, tmp_path, migrated_database, instance):
    videos = tmp_path / "videos"
    make_clip(videos, "lobby", T0)
    defs = make_defs(grain="hour")
    hours, hour = AssetKey(["heatmap_hours", "lobby"]), partition_key(T0)

    _, cursor = automation_runs(defs, instance)
    assert run_range(defs, "lobby", T0, T0, instance).success
    # a re-run of the same hour is under way (a late clip): its minutes are not final yet
    running = instance.add_run(DagsterRun(
        job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED,
        asset_selection=frozenset({minutes_key("lobby")}), tags=camera_run_tags("lobby", hour, hour)))
    waiting, cursor = automation_runs(defs, instance, cursor)
    instance.report_run_failed(running)
    requested, cursor = automation_runs(defs, instance, cursor)
    again, _ = automation_runs(defs, instance, cursor)

    assert waiting == {} and requested == {hours: [hour]} and again == {}
