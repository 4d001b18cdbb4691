"""deploy/dagster.yaml: runs and events on PostgreSQL (dagster-postgres), one run per camera at a time, and the real
daemon replacing a following run whose processes were killed."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from psycopg.conninfo import conninfo_to_dict

from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.lib.keys import CAMERA_TAG, FOLLOW_JOB, FOLLOW_TAG
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import (
    KEEP,
    T0,
    PostgresOnAPort,
    deploy_instance,
    local_defs,
    make_clip,
    minute_sources,
    rows,
    run_range,
)
from roz_pipeline_tests.recorders import record

pytestmark = pytest.mark.slow  # the real daemon, processes and real time: `./run test -m "not slow"` leaves it out

FRIGATE = ClipLayout.from_setting("frigate")
SEGMENT = timedelta(seconds=10)


def test_deploy_instance_keeps_runs_in_postgres_and_limits_runs_per_camera(tmp_path, migrated_database):
    deploy_instance(tmp_path / "dagster", migrated_database)
    registry = tmp_path / "cameras.yaml"
    registry.write_text(f"cameras:\n  lobby: {{{KEEP}}}\n")
    make_clip(tmp_path / "videos", "lobby", T0)

    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert ({"key": "camera", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
                in queue.tag_concurrency_limits)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

        result = run_range(local_defs(registry, tmp_path / "videos", migrated_database, grain="minute"),
                           "lobby", T0, T0, instance)

        assert result.success
        assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS
    assert len(rows(migrated_database)) == 1


def test_deploy_instance_reads_the_whole_server_address_from_the_environment(tmp_path, empty_database,
                                                                           monkeypatch):
    """deploy/dagster.yaml as deploy/README.md copies it: every DAGSTER_PG_* variable counts, the port too (a
    string in the environment; dagster-postgres takes it)."""
    server = PostgresOnAPort(empty_database)
    (tmp_path / "dagster").mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster" / "dagster.yaml")
    params = conninfo_to_dict(empty_database)
    for name, value in {"DAGSTER_HOME": tmp_path / "dagster", "DAGSTER_PG_HOST": "127.0.0.1",
                        "DAGSTER_PG_PORT": server.port, "DAGSTER_PG_DB": params["dbname"],
                        "DAGSTER_PG_USER": params.get("user", "postgres"),
                        "DAGSTER_PG_PASSWORD": params.get("password", "unused")}.items():
        monkeypatch.setenv(name, str(value))
    try:
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.get_runs() == []
    finally:
        server.close()
    assert server.connections > 0


def test_the_daemons_queue_runs_one_catch_up_run_per_camera_at_a_time(tmp_path, migrated_database):
    """The real daemon: new_clips_sensor requests three catch-up runs per camera at once (clips two days late
    in three hours); the queued run coordinator of deploy/dagster.yaml starts each camera's runs one after another."""
    home = tmp_path / "dagster"
    deploy_instance(home, migrated_database)
    registry, videos = tmp_path / "cameras.yaml", tmp_path / "videos"
    registry.write_text(f"cameras:\n  lobby: {{{KEEP}}}\n  yard: {{{KEEP}}}\n")
    two_days_ago = (datetime.now(timezone.utc) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    hours = [two_days_ago + timedelta(hours=h) for h in range(3)]  # one run per hour partition
    for camera in ("lobby", "yard"):
        for hour in hours:
            make_clip(videos, camera, hour)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": migrated_database, "ROZ_VIDEO_ROOT": str(videos),
           "ROZ_CAMERAS_FILE": str(registry), "ROZ_PARTITIONS_START": f"{hours[0] - timedelta(days=1):%Y-%m-%d}",
           "ROZ_SENSOR_INTERVAL_SECONDS": "5",
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["dagster", "sensor", "start", "new_clips_sensor", "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    # Writes wait while this lock is held, so a started run stays in progress: the queue must hold back the
    # camera's other runs meanwhile (the daemon launches a run every ~2 s; 8 s is room for the camera's others,
    # and within the writers' 10 s lock_timeout).
    holder = psycopg.connect(migrated_database)
    holder.execute("LOCK TABLE heatmap_minutes IN EXCLUSIVE MODE")
    in_progress = (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            deadline, released = time.monotonic() + 400, None
            while True:
                runs = instance.get_run_records(RunsFilter(tags={CAMERA_TAG: ["lobby", "yard"]}))
                running = [r.dagster_run.tags[CAMERA_TAG] for r in runs if r.dagster_run.status in in_progress]
                assert len(running) == len(set(running)), f"two runs of one camera at once: {running}"
                if released is None and len(running) == 2:
                    released = time.monotonic() + 8
                if released is not None and time.monotonic() > released and not holder.closed:
                    holder.close()
                if len(runs) == 6 and all(r.dagster_run.is_finished for r in runs):
                    break
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(0.5)
    finally:
        holder.close()
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in runs)
    for camera in ("lobby", "yard"):
        mine = sorted((r.start_time, r.end_time) for r in runs if r.dagster_run.tags[CAMERA_TAG] == camera)
        assert len(mine) == 3
        assert all(later_start >= end for (_, end), (later_start, _) in zip(mine, mine[1:])), mine
        assert [row[0] for row in rows(migrated_database, camera)] == hours


def test_the_real_daemon_replaces_a_following_run_killed_mid_hour(tmp_path, migrated_database, webhook):
    """The real daemon on deploy/dagster.yaml (run monitoring on), a camera landing a Frigate segment every 10 s of
    real time: SIGKILL of every process of the run following the hour, as an OOM kill does. The run is marked
    failed, follow_cameras_sensor starts another for the camera, and every minute recorded is stored once, within
    2 minutes of its last segment plus a minute for noticing the death; no stale alert."""
    home = tmp_path / "dagster"
    deploy_instance(home, migrated_database)
    registry, videos = tmp_path / "cameras.yaml", tmp_path / "recordings"
    registry.write_text("cameras:\n  front: {source_name: Front, retention_days: 36500, stale_after_minutes: 3}\n")
    segment = record(tmp_path / "segment.mp4", 10)
    now = datetime.now(timezone.utc)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": migrated_database, "ROZ_VIDEO_ROOT": str(videos),
           "ROZ_CLIP_LAYOUT": "frigate", "ROZ_CAMERAS_FILE": str(registry), "ROZ_SENSOR_INTERVAL_SECONDS": "5",
           "ROZ_PARTITIONS_START": f"{now - timedelta(days=1):%Y-%m-%d}", "ROZ_ALERT_WEBHOOK_URL": webhook.url,
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("follow_cameras_sensor", "new_clips_sensor"):
        subprocess.run(["dagster", "sensor", "start", name, "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env,
                       check=True, capture_output=True, timeout=120)
    recorder = LiveRecorder(videos, segment, "Front")
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            def following_runs():
                return instance.get_run_records(RunsFilter(job_name=FOLLOW_JOB))

            killed = _wait_for(lambda: [r for r in following_runs() if r.dagster_run.status == DagsterRunStatus.STARTED
                                        and rows(migrated_database, "front")], 300, tmp_path)[0].dagster_run
            pids = {event.dagster_event.pid for event in instance.all_logs(killed.run_id)
                    if event.dagster_event and event.dagster_event.pid}
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed_at = datetime.now(timezone.utc)
            time.sleep(150)  # footage keeps landing
            recorder.stop()
            minutes = recorder.full_minutes()
            _wait_for(lambda: len(rows(migrated_database, "front")) >= len(minutes) and all(
                r.dagster_run.status != DagsterRunStatus.STARTED or r.dagster_run.run_id != killed.run_id
                for r in following_runs()), 240, tmp_path)
            runs = following_runs()
    finally:
        recorder.stop()
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    assert pids
    (dead,) = [r for r in runs if r.dagster_run.run_id == killed.run_id]
    assert dead.dagster_run.status == DagsterRunStatus.FAILURE
    replacements = [r for r in runs if r.create_timestamp > killed_at]
    assert replacements, "no run followed the camera after the kill"
    same_hour = [r for r in replacements if r.dagster_run.tags[FOLLOW_TAG] == killed.tags[FOLLOW_TAG]]
    assert all(r.dagster_run.tags["dagster/run_key"].endswith(f":after:{killed.run_id}") for r in same_hour)
    with psycopg.connect(migrated_database) as conn:
        stored = {s.timestamp: s for s in minute_sources(conn, "front", minutes[0], minutes[-1] + timedelta(minutes=1))}
    assert sorted(stored) == minutes  # every minute recorded, once
    for minute, built in stored.items():
        assert built.covered_seconds == 60, minute
        last_landed = max(recorder.landed[key] for key in built.clip_keys)
        assert built.listed_at - last_landed <= timedelta(minutes=3), (minute, built.listed_at, last_landed)
    assert not [text for text in (body["text"] for body in webhook.received) if "stale" in text or "behind" in text]


class LiveRecorder:
    """A camera recording Frigate's 10 s segments in real time from now: each lands (a copy of `segment`) when it
    ends, until `stop`."""

    def __init__(self, root, segment, camera: str):
        self.root, self.segment, self.camera = root, segment, camera
        self.first = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
        self.landed: dict[str, datetime] = {}  # key -> when it landed
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._record, daemon=True)
        self.thread.start()

    def _record(self) -> None:
        start = self.first
        while not self.stopped.wait(max(0.0, (start + SEGMENT - datetime.now(timezone.utc)).total_seconds())):
            key = FRIGATE.key(self.camera, start)
            path, cached = self.root / key, self.root.parent / "cache" / "segment.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            cached.parent.mkdir(exist_ok=True)
            shutil.copyfile(self.segment, cached)
            os.replace(cached, path)  # lands whole, as Frigate moves a segment out of its cache
            self.landed[key] = datetime.now(timezone.utc)
            start += SEGMENT

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()

    def full_minutes(self) -> list[datetime]:
        """The minutes every second of which was recorded and landed."""
        starts = sorted(FRIGATE.parse(key).start for key in self.landed)
        first = starts[0].replace(second=0) + timedelta(minutes=1) if starts[0].second else starts[0]
        last = (starts[-1] + SEGMENT).replace(second=0, microsecond=0)
        return [first + timedelta(minutes=i) for i in range(int((last - first).total_seconds() // 60))]


def _wait_for(condition, seconds: float, tmp_path):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
        time.sleep(1)
    return found

