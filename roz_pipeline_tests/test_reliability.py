"""Nothing lost, nothing doubled: bad clips of many kinds, repeated and concurrent runs, sensor redelivery."""

import contextlib
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import build_sensor_context, instance_for_test

from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core.heatmap import compute_heatmap
from roz_pipeline.core.video import UnsupportedCodecError
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline_tests import bad_clips
from roz_pipeline_tests.helpers import (
    KEEP,
    T0,
    clip_key,
    execute_request,
    local_defs,
    make_clip,
    minute_row,
    registry_file,
    rows,
    run_range,
)


def _clip(**kwargs):
    defaults = {"frames": 8, "width": 160, "height": 96, "walkers": (bad_clips.WALKER,)}
    return lambda path: write_clip(path, **{**defaults, **kwargs})


# (class, how to make it, written?) -- one camera-minute each, in this order from T0
CLASSES = [
    ("normal", _clip(), True),
    ("4K", _clip(width=3840, height=2160, frames=3, walkers=()), True),
    ("64x64", _clip(width=64, height=64, walkers=()), True),
    ("odd dimensions", _clip(width=161, height=97, codec="ffv1", pix_fmt="gray"), True),
    ("variable frame rate", bad_clips.variable_frame_rate, True),
    ("absurd fps metadata", _clip(fps=1000), True),
    ("longer than a minute", _clip(fps=2, frames=180), True),
    ("shorter than a minute", _clip(frames=3), True),
    ("matroska named .mp4", _clip(codec="mpeg4"), True),  # the extension lies; FFmpeg reads the content
    # damaged: decodable frames kept
    ("truncated, index first", lambda p: bad_clips.truncated(p, faststart=True), True),
    # decodable frames kept (flagged when FFmpeg reports the damage)
    ("corrupt packets", bad_clips.corrupt_packets, True),
    ("zero bytes", lambda p: p.write_bytes(b""), False),
    ("text", lambda p: p.write_text("not a video\n" * 50), False),
    ("truncated, index at the end", lambda p: bad_clips.truncated(p, faststart=False), False),
    ("audio only", bad_clips.audio_only, False),
    ("no decodable frames", bad_clips.no_decodable_frames, False),
    ("unsupported codec", bad_clips.unsupported_codec, False),
    ("8x8", _clip(width=8, height=8, codec="ffv1", pix_fmt="gray", walkers=()), False),
]


@pytest.fixture(scope="module")
def bad_clip_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("classes")
    for index, (_, make, _) in enumerate(CLASSES):
        path = root / clip_key("lobby", T0 + timedelta(minutes=index))
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
    (root / "lobby" / "2026-11-20" / "14-30.txt").write_text("a clip with the wrong extension")
    return root


def test_every_bad_clip_class_fails_or_flags_only_its_own_minute(bad_clip_store, tmp_path, db, migrated_database,
                                                                 instance):
    registry = registry_file(tmp_path, {"lobby": KEEP, "yard": KEEP})
    write_minute(db, minute_row("yard", T0))  # another camera's row must not change
    yard_before = rows(migrated_database, "yard")
    last = T0 + timedelta(minutes=len(CLASSES) - 1)

    result = run_range(local_defs(registry, bad_clip_store, migrated_database, grain="minute"),
                       "lobby", T0, last, instance)
    logs = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    written = {r[0] for r in rows(migrated_database)}
    for index, (name, _, ok) in enumerate(CLASSES):
        minute = T0 + timedelta(minutes=index)
        clip = bad_clip_store / clip_key("lobby", minute)
        assert (minute in written) == ok, name
        assert (f"{minute:%Y-%m-%d %H:%M}: {clip}: " in failure) == (not ok), name
    assert f"{bad_clip_store / clip_key('lobby', T0 + timedelta(minutes=9))}: damaged clip" in logs
    assert "14-30.txt" in logs  # reported, never guessed at
    assert rows(migrated_database, "yard") == yard_before
    assert len(CLASSES) >= 15


def test_unsupported_codec_is_a_typed_error(bad_clip_store):
    with pytest.raises(UnsupportedCodecError, match="no decoder for its video stream"):
        compute_heatmap(bad_clip_store / clip_key("lobby", T0 + timedelta(minutes=16)))


# -- no duplicates -----------------------------------------------------------------------------------------------


@pytest.fixture
def three_minutes(tmp_path):
    registry = registry_file(tmp_path)
    for i in range(3):
        make_clip(tmp_path / "videos", "lobby", T0 + timedelta(minutes=i), seed=i)
    return registry, tmp_path / "videos"


def _count_per_minute(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [n for (n,) in conn.execute(
            'SELECT count(*) FROM heatmap_minutes GROUP BY camera_id, "timestamp" ORDER BY "timestamp"')]


def test_ten_repeated_backfills_leave_one_row_per_minute(three_minutes, migrated_database, instance):
    registry, videos = three_minutes
    defs = local_defs(registry, videos, migrated_database, grain="minute")

    for _ in range(10):
        assert run_range(defs, "lobby", T0, T0 + timedelta(minutes=2), instance).success

    assert _count_per_minute(migrated_database) == [1, 1, 1]


RUN_IN_OWN_PROCESS = """
import sys
from datetime import timedelta
from pathlib import Path
from dagster import instance_for_test
from roz_pipeline_tests.helpers import T0, local_defs, run_range
with instance_for_test() as instance:
    result = run_range(local_defs(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], grain="minute"),
                       "lobby", T0,
                       T0 + timedelta(minutes=2), instance)
sys.exit(0 if result.success else 1)
"""


def test_two_concurrent_runs_of_the_same_range_leave_one_row_per_minute(three_minutes, migrated_database):
    registry, videos = three_minutes
    command = [sys.executable, "-c", RUN_IN_OWN_PROCESS, str(registry), str(videos), migrated_database]

    runs = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    try:
        codes = [run.wait(timeout=300) for run in runs]
    finally:
        for run in runs:
            run.kill()

    assert codes == [0, 0], [run.stderr.read()[-2000:] for run in runs]
    assert _count_per_minute(migrated_database) == [1, 1, 1]


def _run_with_a_decoder_fault(three_minutes, migrated_database, monkeypatch, fault, times):
    """A run of lobby's three minutes in which decoding the 14:01 clip raises `fault` the first `times` times;
    (result, the run's event types, the faults raised)."""
    from roz_pipeline.usecases import processing

    raised = []

    class Faulty(processing.LumaDecoder):
        def __iter__(self):
            if self.clip.name == "14-01.mp4" and len(raised) < times:
                raised.append(fault)
                raise fault
            yield from super().__iter__()

    monkeypatch.setattr(processing, "LumaDecoder", Faulty)
    registry, videos = three_minutes
    with instance_for_test() as instance:
        result = run_range(local_defs(registry, videos, migrated_database, grain="minute"),
                           "lobby", T0, T0 + timedelta(minutes=2),
                           instance)
        events = [e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event]
    return result, events, raised


@pytest.mark.parametrize("fault", [MemoryError(), OSError(28, "No space left on device")], ids=repr)
def test_a_fault_of_the_machine_is_retried_not_blamed_on_the_clip(three_minutes, migrated_database, monkeypatch,
                                                                   fault):
    result, events, raised = _run_with_a_decoder_fault(three_minutes, migrated_database, monkeypatch, fault, 1)

    assert raised and result.success and "STEP_UP_FOR_RETRY" in events
    assert _count_per_minute(migrated_database) == [1, 1, 1]  # every minute written, none marked bad


def test_a_library_fault_on_one_clip_fails_only_its_minute_without_retrying(three_minutes, migrated_database,
                                                                             monkeypatch):
    # a fault inside the decoding of one clip (not the machine's), every time it is read
    result, events, _ = _run_with_a_decoder_fault(three_minutes, migrated_database, monkeypatch,
                                                  RuntimeError("decoder state corrupted"), times=10)

    assert not result.success and "STEP_UP_FOR_RETRY" not in events
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "14-01.mp4: could not be decoded (RuntimeError: decoder state corrupted)" in failure
    assert _count_per_minute(migrated_database) == [1, 1]


def test_a_redelivered_tick_asks_for_the_same_run_and_running_both_deliveries_stores_each_minute_once(
        three_minutes, migrated_database, instance):
    registry, videos = three_minutes
    defs = local_defs(registry, videos, migrated_database, grain="minute",
                      clock=lambda: T0 + timedelta(hours=1))
    sensor = defs.resolve_sensor_def("new_clips_sensor")

    first = sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
    redelivered = sensor(build_sensor_context(instance=instance, definitions=defs, resources=defs.resources))
    results = [execute_request(defs, request, instance)  # both deliveries run, as if the run key were lost
               for request in first.run_requests + redelivered.run_requests]

    (run_key,) = [r.run_key for r in first.run_requests]
    assert [r.run_key for r in redelivered.run_requests] == [run_key]  # the same inputs, the same run key
    assert run_key.startswith("lobby:2026-11-20-14:00:2026-11-20-14:02:")
    assert len(results) == 2 and all(result.success for result in results)
    assert _count_per_minute(migrated_database) == [1, 1, 1]


# -- database faults ---------------------------------------------------------------------------------------------


def test_database_restarted_mid_run_the_run_retries_and_completes(tmp_path, instance, own_cluster):
    from pgserver._commands import pg_ctl

    url, server, pgdata = own_cluster  # this test's own PostgreSQL, which it restarts
    registry = registry_file(tmp_path)
    minutes = 8
    for i in range(minutes):
        path = tmp_path / "videos" / clip_key("lobby", T0 + timedelta(minutes=i))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, frames=90, walkers=(Walker(start=(0, 200), end=(600, 200)),), seed=i)
    restarted = threading.Event()

    def restart_after_two_rows():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.Error), psycopg.connect(url) as conn:
                if conn.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] >= 2:
                    break
            time.sleep(0.05)
        pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pgdata, user=server.system_user)
        restarted.set()

    restarter = threading.Thread(target=restart_after_two_rows)
    restarter.start()
    result = run_range(local_defs(registry, tmp_path / "videos", url, grain="minute"), "lobby", T0,
                       T0 + timedelta(minutes=minutes - 1), instance)
    retried = [e for e in instance.all_logs(result.run_id) if e.dagster_event and
               e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"]
    restarter.join()

    assert restarted.is_set()
    assert result.success
    assert retried, "the restart should have failed a write and retried the step"
    assert _count_per_minute(url) == [1] * minutes
