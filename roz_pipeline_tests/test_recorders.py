"""Real recorder layouts: Frigate's 10 s segments, strftime files of any length, local-time names, gaps, overlaps,
damaged segments, listings in any order. Real clips cut by ffmpeg's segment muxer, real PostgreSQL, real runs."""

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from dagster import materialize

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import ClipRef, LocalClipStore
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.motion import MotionAccumulator
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.core.video import LumaDecoder
from roz_pipeline.lib.keys import minutes_key
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import minutes_between
from roz_pipeline.usecases.processing import process_window, read_minutes
from roz_pipeline_tests.helpers import KEEP, asset_def, local_defs, minute_sources, registry_file
from roz_pipeline_tests.recorders import FPS, cut, frigate_name, record

UTC = timezone.utc
HOUR_START = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
T3 = HOUR_START + timedelta(seconds=3)  # the recording starts at 14:00:03, as segments rarely start on a minute
FRIGATE = ClipLayout.from_setting("frigate")
FRONT_DOOR = {"front-door": f"source_name: Front_Door, {KEEP}"}
MEDIAMTX = "{camera}/%Y-%m-%d_%H-%M-%S-%f"


def frigate_store(tmp_path, seconds=130, seed=0):
    """A Frigate recordings/ folder: `seconds` recorded from 14:00:03 in 10 s segments, and the recording itself."""
    recording = record(tmp_path / "recording.mp4", seconds, seed)
    segments = cut(recording, T3, 10, frigate_name(tmp_path / "recordings"))
    return tmp_path / "recordings", segments, recording


def process(root, layout: ClipLayout, camera: Camera, conn, start=HOUR_START, end=HOUR_START + timedelta(hours=1)):
    return process_window(camera, ClipCatalog(LocalClipStore(root), layout, [camera]), conn, start, end)


def stored(conn, camera_id):
    return {m.timestamp: m for m in minutes_between(conn, camera_id, HOUR_START - timedelta(days=400),
                                                      HOUR_START + timedelta(days=1))}


def sources(conn, camera_id):
    return {s.timestamp: s for s in minute_sources(conn, camera_id, HOUR_START - timedelta(days=400),
                                                   HOUR_START + timedelta(days=1))}


def frames_alone(recording, start, minute):
    """The heatmap of `minute` from its own frames of the continuous recording, with a fresh detector."""
    accumulator = None
    for frame in LumaDecoder(recording):
        if floor(start + timedelta(seconds=frame.time), MINUTE) == minute:
            accumulator = accumulator or MotionAccumulator(frame.luma.shape[1], frame.luma.shape[0])
            accumulator.add(frame.luma)
    return accumulator.heatmap(), accumulator.frames


def test_frigate_segments_give_every_minute_exactly_its_frames_and_the_maps_of_one_continuous_recording(
        tmp_path, db):
    root, segments, recording = frigate_store(tmp_path)
    assert len(segments) == 13 and segments[1][0].relative_to(root).as_posix() == "2026-11-20/14/Front_Door/00.13.mp4"
    camera = Camera("front-door", source_name="Front_Door")

    report = process(root, FRIGATE, camera, db)

    rows = stored(db, "front-door")
    minutes = [HOUR_START + i * MINUTE for i in range(3)]
    assert sorted(rows) == minutes and report.missing == [HOUR_START + i * MINUTE for i in range(3, 60)]
    assert [rows[m].frame_count for m in minutes] == [570, 600, 130]  # 14:00:03-14:02:13 at 10 fps
    built = sources(db, "front-door")
    assert built[minutes[0]].clip_keys == [f"2026-11-20/14/Front_Door/00.{s:02d}.mp4" for s in (3, 13, 23, 33, 43, 53)]
    assert built[minutes[1]].clip_keys[0] == "2026-11-20/14/Front_Door/00.53.mp4"  # holds 14:01:00-14:01:03
    assert [round(built[m].covered_seconds, 1) for m in minutes] == [57.0, 60.0, 13.0]
    with psycopg.connect(db.info.dsn) as conn:
        video_path = conn.execute('SELECT video_path FROM heatmap_minutes WHERE "timestamp" = %s',
                                  (minutes[1],)).fetchone()[0]
    assert video_path == str(root / "2026-11-20/14/Front_Door/00.53.mp4")

    # Motion state carries across segment boundaries: the segments give exactly the continuous recording's maps.
    continuous = ClipRef(str(recording), "front-door", T3, str(recording))
    whole = {f.minute: f for f in read_minutes([continuous], LocalClipStore(tmp_path), camera, HOUR_START,
                                               HOUR_START + timedelta(hours=1))}
    for minute in minutes:
        assert np.array_equal(rows[minute].heatmap, whole[minute].heatmap), minute
        assert rows[minute].heatmap.sum() > 0
        # ... and within one boundary frame of that minute's frames counted on their own
        alone, count = frames_alone(recording, T3, minute)
        assert count == rows[minute].frame_count
        correlation = np.corrcoef(alone.ravel(), rows[minute].heatmap.ravel())[0, 1]
        assert correlation > 0.97, (minute, correlation)


def test_a_90_second_file_starting_at_half_past_gives_two_partial_minutes_and_one_full(tmp_path, db):
    start = HOUR_START + timedelta(seconds=30.5)
    record(tmp_path / "cam" / "2026-11-20_14-00-30-500000.mp4", 90)
    layout = ClipLayout.from_setting(MEDIAMTX)

    process(tmp_path, layout, Camera("cam"), db)

    rows, built = stored(db, "cam"), sources(db, "cam")
    minutes = [HOUR_START + i * MINUTE for i in range(3)]
    assert sorted(rows) == minutes
    assert [rows[m].frame_count for m in minutes] == [295, 600, 5]
    assert [round(built[m].covered_seconds, 1) for m in minutes] == [29.5, 60.0, 0.5]
    assert floor(start, MINUTE) == minutes[0]


def test_local_time_names_across_the_spring_dst_change_map_to_contiguous_utc_minutes(tmp_path, db):
    # Europe/Berlin, 2026-03-29: 02:00 local does not exist; 01:59:30 CET and 03:00:00 CEST are 30 s apart.
    moving = record(tmp_path / "recording.mp4", 60)
    utc_start = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)
    cut(moving, utc_start, 30, lambda s: tmp_path / "nvr" / "cam" / (
        s.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d_%H-%M-%S") + ".mp4"))
    names = sorted(p.name for p in (tmp_path / "nvr" / "cam").iterdir())
    assert names == ["2026-03-29_01-59-30.mp4", "2026-03-29_03-00-00.mp4"]
    layout = ClipLayout.from_setting("{camera}/%Y-%m-%d_%H-%M-%S", "Europe/Berlin")

    process(tmp_path / "nvr", layout, Camera("cam"), db, datetime(2026, 3, 29, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 2, tzinfo=UTC))

    rows, built = stored(db, "cam"), sources(db, "cam")
    assert {m: r.frame_count for m, r in rows.items()} == {utc_start.replace(second=0): 300,
                                                            datetime(2026, 3, 29, 1, 0, tzinfo=UTC): 300}
    assert built[datetime(2026, 3, 29, 1, 0, tzinfo=UTC)].clip_keys == ["cam/2026-03-29_03-00-00.mp4"]


def test_a_hole_inside_a_minute_is_partly_covered_and_motion_starts_fresh_after_it(tmp_path, db, migrated_database,
                                                                                   roz):
    from roz_pipeline.clips.synthetic import Walker

    parked = (Walker(start=(100, 60), end=(100, 60), size=(60, 40), brightness=240),)  # a parked car
    root = tmp_path / "recordings"
    before = record(tmp_path / "before.mp4", 20, moving=parked)
    after = record(tmp_path / "after.mp4", 30, moving=())  # the car left while nothing was recorded
    cut(before, HOUR_START, 10, frigate_name(root))
    cut(after, HOUR_START + timedelta(seconds=30), 10, frigate_name(root))  # 14:00:20-14:00:30 is missing
    camera = Camera("front-door", source_name="Front_Door")

    process(root, FRIGATE, camera, db)

    (row,) = stored(db, "front-door").values()
    assert row.frame_count == 500 and round(sources(db, "front-door")[HOUR_START].covered_seconds) == 50
    assert row.heatmap.sum() == 0  # carried over the hole, the car's empty spot would count as motion
    gaps = roz("gaps", "--camera", "front-door", "--from", "2026-11-20T14:00", "--to", "2026-11-20T14:02",
               env={"DATABASE_URL": migrated_database})
    assert gaps.returncode == 1, gaps.stderr
    assert "2026-11-20 14:00 UTC  partly covered: 50.0 s of footage" in gaps.stdout
    assert "2026-11-20 14:01 - 14:01 UTC  1 minute(s) missing" in gaps.stdout


def test_overlapping_clips_are_reported_and_the_earlier_one_keeps_the_overlap(tmp_path, db):
    record(tmp_path / "cam" / "2026-11-20_14-00-00-000000.mp4", 40, seed=1)
    record(tmp_path / "cam" / "2026-11-20_14-00-30-000000.mp4", 20, seed=2)  # 10 s over the first clip
    layout = ClipLayout.from_setting(MEDIAMTX)

    process(tmp_path, layout, Camera("cam"), db)

    (row,) = stored(db, "cam").values()
    assert row.frame_count == 500  # 14:00:00-14:00:50, the overlap counted once
    built = sources(db, "cam")[HOUR_START]
    assert built.clip_keys == ["cam/2026-11-20_14-00-00-000000.mp4", "cam/2026-11-20_14-00-30-000000.mp4"]
    assert built.problem_clips["cam/2026-11-20_14-00-30-000000.mp4"] == (
        "overlaps cam/2026-11-20_14-00-00-000000.mp4 by 10 s (both recorded 14:00:30 to 14:00:39 UTC): those frames "
        "were read once, from cam/2026-11-20_14-00-00-000000.mp4")


def test_the_second_a_keyframe_cut_shares_with_the_next_segment_is_no_problem(tmp_path, db):
    """Names to the second, cuts at keyframes: the next file starts up to a second or two before the last ends."""
    record(tmp_path / "cam" / "2026-11-20_14-00-00-000000.mp4", 40, seed=1)
    record(tmp_path / "cam" / "2026-11-20_14-00-39-000000.mp4", 20, seed=2)  # 1 s over the first clip

    process(tmp_path, ClipLayout.from_setting(MEDIAMTX), Camera("cam"), db)

    built = sources(db, "cam")[HOUR_START]
    assert built.clip_keys == ["cam/2026-11-20_14-00-00-000000.mp4", "cam/2026-11-20_14-00-39-000000.mp4"]
    assert built.problem_clips == {}


def test_clips_whose_names_sort_out_of_recording_order_are_read_in_recording_order(tmp_path, db):
    # Day-first names: "01-11-2026" sorts before "31-10-2026", though it was recorded after it.
    recording = record(tmp_path / "recording.mp4", 40)
    start = datetime(2026, 10, 31, 23, 59, 40, tzinfo=UTC)
    cut(recording, start, 10, lambda s: tmp_path / "nvr" / "cam" / f"{s:%d-%m-%Y_%H-%M-%S}.mp4")
    layout = ClipLayout.from_setting("{camera}/%d-%m-%Y_%H-%M-%S")
    camera = Camera("cam")

    process(tmp_path / "nvr", layout, camera, db, start.replace(second=0), start.replace(second=0) + 2 * MINUTE)

    rows = stored(db, "cam")
    assert {m: r.frame_count for m, r in rows.items()} == {start.replace(second=0): 200,
                                                            datetime(2026, 11, 1, tzinfo=UTC): 200}
    whole = {f.minute: f for f in read_minutes([ClipRef(str(recording), "cam", start, str(recording))],
                                               LocalClipStore(tmp_path), camera, start.replace(second=0),
                                               start.replace(second=0) + 2 * MINUTE)}
    assert all(np.array_equal(rows[m].heatmap, whole[m].heatmap) for m in rows)


def test_a_clip_read_on_its_own_is_the_minutes_the_pipeline_stores_from_it_added_up(tmp_path):
    recording = record(tmp_path / "export.mp4", 150)  # three minutes when it starts on one
    camera = Camera("cam")

    alone = compute_heatmap(recording)

    minutes = [f for f in read_minutes([ClipRef(str(recording), "cam", HOUR_START, str(recording))],
                                       LocalClipStore(tmp_path), camera, HOUR_START, HOUR_START + 3 * MINUTE)]
    assert len(minutes) == 3 and alone.frame_count == sum(f.frame_count for f in minutes) == 150 * FPS
    assert np.array_equal(alone.heatmap, minutes[0].heatmap + minutes[1].heatmap + minutes[2].heatmap)
    assert np.array_equal(alone.still, minutes[0].still) and alone.last_frame_time == 150 - 1 / FPS


def test_a_corrupt_segment_among_six_leaves_its_minute_the_other_frames_and_names_it(tmp_path, migrated_database,
                                                                                     instance):
    root, segments, _ = frigate_store(tmp_path, seconds=80)  # 14:00:03-14:01:23
    corrupt = root / "2026-11-20/14/Front_Door/00.33.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3000))
    defs = local_defs(registry_file(tmp_path, FRONT_DOOR), root, migrated_database, layout="frigate")

    result = materialize([asset_def(defs, minutes_key("front-door"))], resources=defs.resources,
                         instance=instance, partition_key="2026-11-20-14:00")
    logs = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))

    assert result.success
    (materialization,) = result.asset_materializations_for_node("heatmap_minutes__front_door")
    assert materialization.metadata["minutes_written"].value == 2
    assert materialization.metadata["covered_seconds"].value == 70.0
    with psycopg.connect(migrated_database) as conn:
        frames = dict(conn.execute('SELECT "timestamp", frame_count FROM heatmap_minutes ORDER BY 1').fetchall())
        problems = conn.execute('SELECT problem_clips FROM heatmap_minute_sources WHERE "timestamp" = %s',
                                (HOUR_START,)).fetchone()[0]
    assert frames == {HOUR_START: 470, HOUR_START + MINUTE: 230}
    assert list(problems) == ["2026-11-20/14/Front_Door/00.33.mp4"]
    assert f"{corrupt}: not a video FFmpeg can read" in problems["2026-11-20/14/Front_Door/00.33.mp4"]
    assert f"{corrupt}: not a video FFmpeg can read" in logs


def test_per_minute_command_splits_a_clip_from_its_start(tmp_path, roz):
    clip = record(tmp_path / "export.mp4", 90)
    result = roz("heatmap", "compute", str(clip), "--per-minute", "--start", "2026-11-20T14:00:30", "--json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["timestamp"], r["frame_count"]) for r in rows] == [
        ("2026-11-20T14:00:00+00:00", 300), ("2026-11-20T14:01:00+00:00", 600)]
    assert all(r["video_path"] == str(clip) for r in rows)


def test_per_minute_command_reads_starts_from_names_under_the_layout(tmp_path, roz):
    root, segments, _ = frigate_store(tmp_path, seconds=30)
    paths = [str(path) for path, _ in reversed(segments)]  # any order
    result = roz("heatmap", "compute", *paths, "--per-minute", "--json", env={"ROZ_CLIP_LAYOUT": "frigate"},
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["frame_count"] == 300 and row["covered_seconds"] == 30.0 and len(row["clips"]) == 3


def test_frame_rate_check(tmp_path):
    clip = record(tmp_path / "x.mp4", 2)
    decoder = LumaDecoder(clip)
    times = [frame.time for frame in decoder]
    assert times[0] == 0.0 and len(times) == 2 * FPS and decoder.report.frame_interval == 1 / FPS


# -- Frigate on S3 ------------------------------------------------------------------------------------------------



def _upload(client, bucket, root, prefix="frigate"):
    for path in sorted(root.rglob("*.mp4")):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")


def test_a_frigate_hour_of_20_cameras_on_s3_is_one_listing(tmp_path, moto_s3):
    from roz_pipeline.clips.s3_store import S3ClipStore

    client = moto_s3.client("s3")
    client.create_bucket(Bucket="frigate-20")
    cameras = [Camera(f"cam-{i:02d}", source_name=f"Cam_{i:02d}") for i in range(20)]
    for camera in cameras:  # six 10 s segment keys per camera in the 14:00 hour folder (the listing reads keys only)
        for second in range(3, 60, 10):
            client.put_object(Bucket="frigate-20",
                              Key=f"frigate/2026-11-20/14/{camera.source_name}/05.{second:02d}.mp4", Body=b"x")
    client.put_object(Bucket="frigate-20", Key="frigate/2026-11-20/15/Cam_00/00.03.mp4", Body=b"x")  # next hour
    listings = []
    client.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                               lambda params, **_: listings.append(params["Prefix"]))
    catalog = ClipCatalog(S3ClipStore(client, "frigate-20", "frigate"), FRIGATE, cameras)

    listing = catalog.clips_starting([c.camera_id for c in cameras], HOUR_START, HOUR_START + timedelta(hours=1))

    assert listings == ["frigate/2026-11-20/14/"]
    assert all(len(clips) == 6 for clips in listing.clips.values()) and not listing.problems
    listings.clear()
    window = catalog.clips_for_window(["cam-07"], HOUR_START + timedelta(minutes=5), HOUR_START + timedelta(minutes=6))
    assert listings == ["frigate/2026-11-20/14/Cam_07/"] * 2  # the window, and its longest clip (60 s) before it
    assert [c.key for c in window.clips["cam-07"]][0] == "2026-11-20/14/Cam_07/05.03.mp4"


def test_a_dagster_run_reads_frigate_segments_from_s3(tmp_path, moto_s3, migrated_database, make_defs, instance):
    root, segments, _ = frigate_store(tmp_path, seconds=70)
    client = moto_s3.client("s3")
    client.create_bucket(Bucket="frigate-run")
    _upload(client, "frigate-run", root)
    defs = make_defs(FRONT_DOOR, store="s3", layout="frigate", bucket="frigate-run", prefix="frigate")

    downloads_before = set(Path(tempfile.gettempdir()).glob("roz-clip*"))
    result = materialize([asset_def(defs, minutes_key("front-door"))], resources=defs.resources,
                         instance=instance, partition_key="2026-11-20-14:00")

    assert result.success
    assert set(Path(tempfile.gettempdir()).glob("roz-clip*")) == downloads_before  # every download removed
    with psycopg.connect(migrated_database) as conn:
        rows = conn.execute('SELECT "timestamp", frame_count, video_path FROM heatmap_minutes ORDER BY 1').fetchall()
    assert [(r[0], r[1]) for r in rows] == [(HOUR_START, 570), (HOUR_START + MINUTE, 130)]
    assert rows[1][2] == "s3://frigate-run/frigate/2026-11-20/14/Front_Door/00.53.mp4"


# -- layouts --------------------------------------------------------------------------------------------------------

def test_layout_templates_are_checked_and_keys_round_trip():
    import pytest

    for template, problem in (("%Y-%m-%d/%H-%M", "{camera} exactly once"), ("{camera}/%Y-%m-%d_%H", "lacks %M"),
                              ("{camera}/%Y-%m-%d/%H-%M-%p", "only %Y %m %d %H %M %S %f")):
        with pytest.raises(ValueError, match=problem):
            ClipLayout.from_setting(template)
    with pytest.raises(ValueError, match="unknown time zone"):
        ClipLayout.from_setting("roz", "Mars/Olympus")
    moment = datetime(2026, 11, 20, 14, 3, 5, 500000, tzinfo=UTC)
    for name in ("frigate", MEDIAMTX, "{camera}/%Y%m%d_%H%M%S"):
        layout = ClipLayout.from_setting(name, "America/New_York")
        assert layout.parse(layout.key("Front_Door", moment)).start == moment.replace(
            microsecond=moment.microsecond if "%f" in layout.template else 0)


def test_listing_prefixes_cover_local_hours_at_half_hour_offsets_and_share_frigate_hour_folders():
    kolkata = ClipLayout.from_setting("{camera}/%Y/%m/%d/%H-%M-%S", "Asia/Kolkata")  # UTC+5:30
    # 14:00-15:00 UTC is 19:30-20:30 in Kolkata: both local hours' names, in one day folder
    assert kolkata.prefixes(["cam"], HOUR_START, HOUR_START + timedelta(hours=1)) == ["cam/2026/11/20/"]
    mediamtx = ClipLayout.from_setting(MEDIAMTX, "Asia/Kolkata")
    assert mediamtx.prefixes(["cam"], HOUR_START, HOUR_START + timedelta(hours=1)) == [
        "cam/2026-11-20_19-", "cam/2026-11-20_20-"]
    assert FRIGATE.prefixes(["A", "B"], HOUR_START, HOUR_START + timedelta(hours=2)) == [
        "2026-11-20/14/", "2026-11-20/15/"]
    assert FRIGATE.prefixes(["A"], HOUR_START, HOUR_START + timedelta(minutes=1)) == ["2026-11-20/14/A/"]
