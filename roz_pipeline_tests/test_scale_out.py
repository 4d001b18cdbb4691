"""Scale-out on an existing distributed engine: dagster-celery workers in separate processes execute the camera
steps, through RabbitMQ (broker) and Redis (results) on this machine, with the instance on PostgreSQL
(deploy/dagster.yaml, deploy/celery/celery.yaml), as deploy/README.md sets it up."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance

from bench.common import step_placements
from roz_pipeline import settings
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import T0, deploy_instance, skip_or_fail

pytestmark = pytest.mark.slow  # Celery workers in their own processes: `./run test -m "not slow"` leaves it out

CAMERAS = ("scale-a", "scale-b")
MINUTES = 2
SCRIPTS = Path(sys.executable).parent  # dagster-celery and roz, installed beside this Python


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    """Two cameras' clips, the registry, a deploy/dagster.yaml instance, and the environment of every process."""
    clip = write_clip(tmp_path / "clip.mp4", width=320, height=180, frames=12,
                      walkers=(Walker(start=(0, 80), end=(280, 80), size=(16, 40)),))
    videos, home = tmp_path / "videos", tmp_path / "dagster"
    for camera in CAMERAS:
        for minute in range(MINUTES):
            path = videos / ClipLayout.from_setting("roz").key(camera, T0 + timedelta(minutes=minute))
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(clip, path)  # a hard link: a symbolic link leading outside the clip folder is never read
    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n" + "".join(f"  {camera}: {{retention_days: 36500}}\n" for camera in CAMERAS))
    deploy_instance(home, database_url)
    DagsterInstance.from_config(str(home)).dispose()  # its tables, once: workers starting together would race
    return {**os.environ, "PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}",  # `celery` for the workers
            "DAGSTER_HOME": str(home), "DATABASE_URL": database_url, "ROZ_VIDEO_ROOT": str(videos),
            "ROZ_CAMERAS_FILE": str(tmp_path / "cameras.yaml"), "ROZ_PARTITIONS_START": f"{T0:%Y-%m-%d}",
            "ROZ_EXECUTOR": "celery",
            settings.CELERY_BROKER: settings.env(settings.CELERY_BROKER, settings.DEFAULT_CELERY_BROKER),
            settings.CELERY_BACKEND: settings.env(settings.CELERY_BACKEND, settings.DEFAULT_CELERY_BACKEND)}


def _start_workers(count: int, environment: dict, logs: Path) -> list[subprocess.Popen]:
    """`count` workers of concurrency 1 started as deploy/README.md says, each in a session of its own."""
    workers = [subprocess.Popen(
        [str(SCRIPTS / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
         "-y", str(REPO_ROOT / "deploy" / "celery" / "celery.yaml"), "-n", f"roz-test-{i}", "--", "--concurrency=1"],
        cwd=REPO_ROOT, env=environment, stdout=(logs / f"worker-{i}.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True) for i in range(count)]
    deadline = time.monotonic() + 120
    while not all("ready." in (logs / f"worker-{i}.log").read_text() for i in range(count)):
        if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
            _stop(workers)
            pytest.fail(f"the Celery workers did not start: see {logs}")
        time.sleep(0.5)
    return workers


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def test_celery_workers_execute_every_camera_step_in_their_own_processes(tmp_path, migrated_database):
    if not (_listening(5672) and _listening(6379)):
        skip_or_fail("RabbitMQ (127.0.0.1:5672) and Redis (127.0.0.1:6379) are needed for the Celery scale-out")
    environment = _environment(tmp_path, migrated_database)
    # Once per instance, as deploy/README.md says: two runs starting at once on an instance where the pool's limit was
    # never set both try to create it (Dagster inserts it without ON CONFLICT), and one run fails.
    subprocess.run([str(SCRIPTS / "dagster"), "instance", "concurrency", "set", "database-writers", "8"], cwd=tmp_path,
                   env=environment, check=True, capture_output=True, timeout=120)
    workers = _start_workers(2, environment, tmp_path)
    try:
        launchers = [subprocess.Popen(
            [str(SCRIPTS / "roz"), "materialize", "--camera", camera, "--from", T0.isoformat(),
             "--to", (T0 + timedelta(minutes=MINUTES)).isoformat()],
            cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for camera in CAMERAS]  # both cameras at once, as two people would start them
        for launcher in launchers:
            _, errors = launcher.communicate(timeout=600)
            assert launcher.returncode == 0, errors[-3000:]
    finally:
        _stop(workers)

    steps = step_placements(environment["DAGSTER_HOME"])
    camera_steps = [f"heatmap_minutes__{camera.replace('-', '_')}" for camera in CAMERAS]
    assert sorted(s["step"] for s in steps if s["step"] in camera_steps) == camera_steps  # and their checks
    for step in steps:
        assert step["worker"].startswith("roz-test-"), step  # taken from the broker by one of our workers
        assert step["pid"] not in [launcher.pid for launcher in launchers] and step["pid"] != step["run_pid"], step
    assert len(Counter(s["pid"] for s in steps)) <= 2  # the workers' two pool processes
    with psycopg.connect(migrated_database) as conn:
        per_camera = dict(conn.execute("SELECT camera_id, count(*) FROM heatmap_minutes GROUP BY camera_id"))
    assert per_camera == {camera: MINUTES for camera in CAMERAS}
