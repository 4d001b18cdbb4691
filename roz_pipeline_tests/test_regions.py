"""Where and when: `roz when` over real clips with motion placed in known regions, the region series (the fast
way) equal to summing the stored arrays (the slow way), and the week picture."""

import json
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from dagster import evaluate_automation_conditions, materialize

from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core.cells import cell_sums
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.regions import activity_intervals
from roz_pipeline.core.render import NO_DATA_COLOR, week_cell, week_cell_color
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.lib.keys import regions_key
from roz_pipeline.registry import Camera, load_registry
from roz_pipeline.storage.connection import connect
from roz_pipeline.storage.minutes import HeatmapMinute, write_minute
from roz_pipeline.usecases.insight import week_pattern
from roz_pipeline.usecases.regions import (
    activity_from_arrays,
    complete_region_series,
    rectangle_activity,
    region_minutes,
    when,
)
from roz_pipeline.usecases.rollups import roll_up_hour
from roz_pipeline_tests.helpers import T0, asset_def, cell_is, clip_key, registry_file, run_range

REGIONS = "{door: [0, 60, 100, 140], gate: [220, 60, 320, 140], sky: [0, 0, 320, 40]}"
AT_THE_DOOR = Walker(start=(10, 80), end=(60, 80), size=(16, 40))  # x 10-76, y 80-120: inside `door` only
AT_THE_GATE = Walker(start=(230, 80), end=(280, 80), size=(16, 40))  # inside `gate` only
# Minute by minute from T0: who moves (None: an empty scene with sensor noise only).
SCRIPT = [AT_THE_DOOR, AT_THE_DOOR, None, AT_THE_DOOR, AT_THE_GATE, None]


def roz_when(roz, env: dict, region: str, *extra: str) -> dict:
    result = roz("when", "--camera", "lobby", "--region", region, "--from", f"{T0:%Y-%m-%dT%H:%M}",
                 "--to", f"{T0 + timedelta(minutes=10):%Y-%m-%dT%H:%M}", "--sort", "time", "--json", *extra, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def spans(answer: dict) -> list[tuple[str, str]]:
    return [(i["start"][11:16], i["end"][11:16]) for i in answer["intervals"]]


def test_when_finds_the_minutes_something_crossed_a_region_and_the_series_gives_the_same_answer(
        tmp_path, migrated_database, roz, make_defs, instance):
    registry, videos = tmp_path / "cameras.yaml", tmp_path / "videos"
    for minute, walker in enumerate(SCRIPT):
        path = videos / clip_key("lobby", T0 + timedelta(minutes=minute))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, width=320, height=180, frames=20, walkers=(walker,) if walker else (), seed=minute)
    defs = make_defs({"lobby": f"retention_days: 36500, regions: {REGIONS}"}, grain="minute")
    env = {"DATABASE_URL": migrated_database, "ROZ_CAMERAS_FILE": str(registry),
           "ROZ_VIDEO_ROOT": str(videos)}
    assert run_range(defs, "lobby", T0, T0 + timedelta(minutes=len(SCRIPT) - 1), instance).success

    before = roz_when(roz, env, "door")  # the series is not built yet: the arrays answer
    assert before["read_from"] == "the minute arrays" and "not built yet" in before["notes"][0]
    assert materialize([asset_def(defs, regions_key("lobby"))], resources=defs.resources,
                       instance=instance).success
    late = videos / clip_key("lobby", T0 + timedelta(minutes=len(SCRIPT)))  # written with its region values
    write_clip(late, width=320, height=180, frames=20, walkers=(AT_THE_DOOR,), seed=99)
    assert run_range(defs, "lobby", T0 + timedelta(minutes=len(SCRIPT)), T0 + timedelta(minutes=len(SCRIPT)),
                     instance).success

    door = roz_when(roz, env, "door")
    assert door["read_from"] == "the region series"
    assert spans(door) == [("14:00", "14:02"), ("14:03", "14:04"), ("14:06", "14:07")]
    assert spans(roz_when(roz, env, "gate")) == [("14:04", "14:05")]
    busiest = roz_when(roz, env, "door", "--limit", "1", "--sort", "busiest")
    assert busiest["interval_count"] == 3 and busiest["intervals"] == [max(door["intervals"],
                                                                            key=lambda i: i["activity"])]
    assert roz_when(roz, env, "sky")["intervals"] == []
    pixels = roz_when(roz, env, "0,60,100,140")  # the door's rectangle given in pixels: read from the arrays
    assert pixels["read_from"] == "the minute arrays"
    assert pixels["intervals"] == door["intervals"]
    grid = roz_when(roz, env, "0,80,80,160")  # on the cell grid (80 source pixels at factor 4): the runs wrote cells
    with connect(migrated_database) as conn:
        arrays = activity_intervals(activity_from_arrays(conn, "lobby", (0, 80, 80, 160), T0, T0 + HOUR))
    assert grid["read_from"] == "the minute cells" and grid["stored_minutes"] == len(SCRIPT) + 1
    assert [(i["start"], i["peak_minute"]) for i in grid["intervals"]] == [
        (a.start.isoformat(), a.peak_minute.isoformat()) for a in arrays] and arrays
    assert before["intervals"] == door["intervals"][:2]
    first = door["intervals"][0]
    assert first["clips"] == [clip_key("lobby", T0)] and first["open"] == {"clip": clip_key("lobby", T0),
                                                                             "offset_seconds": 0.0}
    assert first["activity"] > 0 and first["peak_minute"][11:16] in ("14:00", "14:01")
    csv_file = tmp_path / "door.csv"
    exported = roz("export", "--camera", "lobby", "--region", "door", "--by", "minute",
                   "--from", f"{T0:%Y-%m-%dT%H:%M}", "--to", f"{T0 + timedelta(hours=1):%Y-%m-%dT%H:%M}",
                   "--out", str(csv_file), env=env)
    assert exported.returncode == 0, exported.stderr
    header, *minutes = [line.split(",") for line in csv_file.read_text().splitlines()]
    assert header == ["camera_id", "region", "minute_utc", "minutes", "activity", "activity_per_minute"]
    assert [m[2][11:16] for m in minutes] == [f"14:0{i}" for i in range(len(SCRIPT) + 1)]  # every stored minute
    moving = [float(m[4]) for m in minutes]
    assert abs(sum(moving[0:2]) - door["intervals"][0]["activity"]) < 0.2 and moving[2] == moving[5] == 0
    hourly = roz("timeline", "--camera", "lobby", "--region", "door", "--by", "hour", "--from", f"{T0:%Y-%m-%dT%H:%M}",
                 "--to", f"{T0 + timedelta(hours=1):%Y-%m-%dT%H:%M}", env=env)
    assert hourly.returncode == 0 and hourly.stdout.startswith(f"{T0:%Y-%m-%d %H}:00     7 min"), hourly.stdout

    peak = max(door["intervals"], key=lambda i: i["peak_activity"])
    assert roz_when(roz, env, "door", "--min-activity", str(peak["peak_activity"]))["intervals"] == []
    above = roz_when(roz, env, "door", "--min-activity", str(peak["peak_activity"] * 0.999999))["intervals"]
    assert peak["peak_minute"] in [i["peak_minute"] for i in above]


def test_the_series_equals_the_arrays_on_random_regions_over_a_week_and_a_downscale_change_is_reported(db, tmp_path):
    rng = np.random.default_rng(7)
    run = set(range(3000, 3040)) - {3017}  # 39 consecutive minutes but one, moving in the corner
    chosen = sorted(set(int(m) for m in rng.choice(7 * 1440, 700, False)) | run)
    week = [T0 - timedelta(days=7) + timedelta(minutes=m) for m in chosen]
    for offset, minute in zip(chosen, week):
        factor = 4 if minute < T0 - timedelta(days=3) else 2  # the camera's downscale halved mid-week
        height, width = 180 // factor, 320 // factor
        array = np.zeros((height, width), np.float32)
        if offset in run:
            array[2:8, 2:8] = (1 + offset % 7) / 3  # floats whose sums depend on their order
        for _ in range(rng.integers(0, 4)):  # a few moving blobs, fractional counts like partly covered minutes
            y, x = rng.integers(0, height - 5), rng.integers(0, width - 5)
            array[y:y + rng.integers(1, 6), x:x + rng.integers(1, 6)] += rng.random() * 30
        write_minute(db, HeatmapMinute("lobby", minute, "clip.mp4", height, width, factor, encode_intensity(array),
                                       int(rng.integers(1, 900)), float(array.sum()), float(array.max()),
                                       int(np.count_nonzero(array))), cells=cell_sums(array))
    corners = rng.integers(0, 300, size=(6, 2))
    regions = {f"r{i}": [int(x), int(y % 170), int(x + rng.integers(1, 60)), int(y % 170 + rng.integers(1, 40))]
               for i, (x, y) in enumerate(corners)}
    camera = _camera(tmp_path, regions)

    assert complete_region_series(db, camera) == {name: len(week) for name in regions}
    start, end = week[0], week[-1] + timedelta(minutes=1)
    for name, rectangle in regions.items():
        fast, from_series, _ = region_minutes(db, camera, name, tuple(rectangle), start, end)
        assert from_series
        assert fast == activity_from_arrays(db, "lobby", tuple(rectangle), start, end)  # identical, not close

    moved = dict(regions, r0=[5, 5, 50, 50])
    del moved["r1"]
    camera = _camera(tmp_path, moved)
    assert complete_region_series(db, camera) == {name: len(week) if name == "r0" else 0 for name in moved}
    fast, from_series, _ = region_minutes(db, camera, "r0", (5, 5, 50, 50), start, end)
    assert from_series and fast == activity_from_arrays(db, "lobby", (5, 5, 50, 50), start, end)
    assert db.execute("SELECT count(*) FROM heatmap_region_minutes WHERE region = 'r1'").fetchone()[0] == 0

    answer = when(db, camera, "r2", start, end)
    (change,) = answer.downscale_changes
    assert change[1:] == (4, 2) and change[0] >= T0 - timedelta(days=3)
    for name, rectangle in moved.items():  # PostgreSQL's intervals of the series == Python's of the arrays
        for threshold in (0.0, 5.0):
            series = when(db, camera, name, start, end, threshold)
            arrays = when(db, camera, ",".join(map(str, rectangle)), start, end, threshold)
            assert series.from_series and not arrays.from_series
            assert series.intervals == arrays.intervals and series.intervals  # identical floats, peaks included
            assert (series.minutes_with_data, series.downscale_changes) == (len(week), answer.downscale_changes)
            assert arrays.minutes_with_data == len(week) and arrays.downscale_changes == series.downscale_changes
    assert [i.minutes for i in when(db, camera, "r0", start, end).intervals if i.minutes > 1] == [17, 22]


def test_a_rectangle_on_the_cell_grid_is_read_from_the_cells_with_the_arrays_answer(db):
    rng = np.random.default_rng(11)
    minutes = [T0 + timedelta(minutes=m) for m in range(240)]
    for minute in minutes:
        factor = 4 if minute < T0 + timedelta(hours=2) else 2  # halved: the grid's lines stay on 80 source pixels
        array = np.zeros((180 // factor, 320 // factor), np.float32)
        for _ in range(rng.integers(0, 4)):
            y, x = rng.integers(0, array.shape[0] - 5), rng.integers(0, array.shape[1] - 5)
            array[y:y + rng.integers(1, 6), x:x + rng.integers(1, 6)] += rng.random() * 30
        write_minute(db, HeatmapMinute.of("lobby", minute, "clip.mp4", array, factor, 20), cells=cell_sums(array))
    start, end = minutes[0], minutes[-1] + timedelta(minutes=1)

    for rectangle in [(80, 0, 240, 160), (160, 80, 320, 180), (0, 0, 320, 180)]:  # the last two reach the edges
        from_cells, read = rectangle_activity(db, "lobby", rectangle, start, end)
        arrays = activity_from_arrays(db, "lobby", rectangle, start, end)
        assert read == len(minutes) and [p.minute for p in from_cells] == [p.minute for p in arrays]
        assert [p.activity for p in from_cells] == pytest.approx([p.activity for p in arrays], rel=1e-12, abs=1e-9)
        assert [p.downscale_factor for p in from_cells] == [p.downscale_factor for p in arrays]
    assert rectangle_activity(db, "lobby", (90, 0, 240, 160), start, end)[1] == 0  # off the grid: the arrays

    db.execute('DELETE FROM heatmap_minute_cells WHERE "timestamp" < %s', (T0 + timedelta(minutes=30),))
    mixed, read = rectangle_activity(db, "lobby", (80, 0, 240, 160), start, end)  # minutes stored before cells
    arrays = activity_from_arrays(db, "lobby", (80, 0, 240, 160), start, end)
    assert read == len(minutes) - 30 and [p.minute for p in mixed] == [p.minute for p in arrays]
    assert [p.activity for p in mixed] == pytest.approx([p.activity for p in arrays], rel=1e-12, abs=1e-9)
    answer = when(db, Camera("lobby"), "80,0,240,160", start, end)
    assert answer.read_from == f"the cells of {len(minutes) - 30} minutes and the arrays of 30"
    db.execute("DELETE FROM heatmap_minutes")
    assert db.execute("SELECT count(*) FROM heatmap_minute_cells").fetchone()[0] == 0  # gone with their minutes


def _camera(folder, regions: dict):
    return load_registry(registry_file(folder, {"lobby": {"regions": regions}}))["lobby"]


def test_the_week_picture_decodes_and_its_cells_are_the_rollups_average_minute(db, migrated_database, tmp_path, roz):
    end = floor(datetime.now(timezone.utc), HOUR)
    placed = {}  # hour -> (minutes, activity per minute)
    for days_back, per_minute, minutes in ((1, 30.0, 10), (8, 10.0, 30)):  # the same weekday-hour, two weeks
        placed[end - timedelta(days=days_back, hours=5)] = (minutes, per_minute)
    placed[end - timedelta(days=2, hours=1)] = (60, 4.0)
    placed[end - timedelta(days=15)] = (5, 99.0)  # before the two weeks: left out
    for hour, (minutes, per_minute) in placed.items():
        for m in range(minutes):
            array = np.zeros((9, 16), np.float32)
            array[0, :4] = per_minute / 4
            write_minute(db, HeatmapMinute("lobby", hour + timedelta(minutes=m), "c.mp4", 9, 16, 4,
                                           encode_intensity(array), 10, float(array.sum()), float(array.max()), 4))
        roll_up_hour(db, "lobby", hour, minutes_kept_since=hour - timedelta(days=1))
    busy = end - timedelta(days=1, hours=5)
    quiet = end - timedelta(days=2, hours=1)

    week = week_pattern(db, "lobby", end, weeks=2)
    assert week.per_minute[busy.weekday(), busy.hour] == (30.0 * 10 + 10.0 * 30) / 40  # two weeks of the slot
    assert week.per_minute[quiet.weekday(), quiet.hour] == 4.0
    assert np.isnan(week.per_minute).sum() == 168 - 2 and week.minutes.sum() == 100

    png = tmp_path / "week.png"
    result = roz("pattern", "--camera", "lobby", "--week", "--weeks", "2", "--png", str(png),
                 env={"DATABASE_URL": migrated_database})
    assert result.returncode == 0, result.stderr
    picture = cv2.imdecode(np.frombuffer(png.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    top = week.per_minute[busy.weekday(), busy.hour]
    for (day, hour), expected in {(busy.weekday(), busy.hour): week_cell_color(top, top),
                                  (quiet.weekday(), quiet.hour): week_cell_color(4.0, top),
                                  ((quiet.weekday() + 3) % 7, (quiet.hour + 7) % 24): NO_DATA_COLOR}.items():
        assert cell_is(picture, week_cell(day, hour), expected)


def test_the_series_asset_is_requested_once_at_first_and_again_when_a_region_moves(tmp_path, make_defs, instance):
    (tmp_path / "videos").mkdir()

    def requested(defs, instance, cursor):
        result = evaluate_automation_conditions(defs, instance, cursor=cursor)
        return result.get_num_requested(regions_key("lobby")) == 1, result.cursor

    defs = make_defs({"lobby": "regions: {door: [0, 60, 100, 140]}"}, grain="minute")
    wanted, cursor = requested(defs, instance, None)
    assert wanted  # never built
    assert materialize([asset_def(defs, regions_key("lobby"))], resources=defs.resources,
                       instance=instance).success
    assert requested(defs, instance, cursor)[0] is False
    moved = make_defs({"lobby": "regions: {door: [0, 60, 120, 140]}"}, grain="minute")  # the door moved
    assert requested(moved, instance, cursor)[0]
