"""deploy/dagster.yaml: runs and events on PostgreSQL (dagster-postgres), one run per camera at a time."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from psycopg.conninfo import conninfo_to_dict

from roz_pipeline.defs.keys import CAMERA_TAG
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import KEEP, T0, local_defs, make_clip, rows, run_range


def _sqlalchemy_url(conninfo: str, scheme: str) -> str:
    params = conninfo_to_dict(conninfo)
    host = params.get("host", "127.0.0.1")
    user = params.get("user", "postgres")
    if host.startswith("/"):
        return f"{scheme}://{user}@/{params['dbname']}?host={host}"
    return f"{scheme}://{user}@{host}:{params.get('port', 5432)}/{params['dbname']}"


def deploy_instance(home, database_url: str) -> None:
    """deploy/dagster.yaml in `home`, its storage on the test database."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    assert set(config["storage"]["postgres"]["postgres_db"]) == {"hostname", "port", "db_name", "username", "password",
                                                                 "scheme"}
    scheme = config["storage"]["postgres"]["postgres_db"]["scheme"]
    config["storage"] = {"postgres": {"postgres_url": _sqlalchemy_url(database_url, scheme)}}
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def test_deploy_instance_keeps_runs_in_postgres_and_limits_runs_per_camera(tmp_path, migrated_database):
    deploy_instance(tmp_path / "dagster", migrated_database)
    registry = tmp_path / "cameras.yaml"
    registry.write_text(f"cameras:\n  lobby: {{{KEEP}}}\n")
    make_clip(tmp_path / "videos", "lobby", T0)

    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert {"key": "camera", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in queue.tag_concurrency_limits
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

        result = run_range(local_defs(registry, tmp_path / "videos", migrated_database), "lobby", T0, T0, instance)

        assert result.success
        assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS
    assert len(rows(migrated_database)) == 1


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
