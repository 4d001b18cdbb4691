"""Scale-out on an existing distributed engine: dagster-celery workers in separate processes execute the camera
steps, through RabbitMQ (broker) and Redis (results) on this machine, with the instance on PostgreSQL
(deploy/dagster.yaml, deploy/celery/celery.yaml), as deploy/README.md sets it up."""

import socket
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance

from bench.common import SCRIPTS, celery_environment, lay_footage, start_celery_workers, step_placements, stop_processes
from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline_tests.helpers import T0, deploy_instance, skip_or_fail

pytestmark = pytest.mark.slow  # Celery workers in their own processes: `./run test -m "not slow"` leaves it out

CAMERAS = ("scale-a", "scale-b")
MINUTES = 2


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
    lay_footage(videos, clip, CAMERAS, T0, MINUTES)
    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n" + "".join(f"  {camera}: {{retention_days: 36500}}\n" for camera in CAMERAS))
    deploy_instance(home, database_url)
    DagsterInstance.from_config(str(home)).dispose()  # its tables, once: workers starting together would race
    return celery_environment(home, database_url, videos, tmp_path / "cameras.yaml", T0)


def test_celery_workers_execute_every_camera_step_in_their_own_processes(tmp_path, migrated_database):
    if not (_listening(5672) and _listening(6379)):
        skip_or_fail("RabbitMQ (127.0.0.1:5672) and Redis (127.0.0.1:6379) are needed for the Celery scale-out")
    environment = _environment(tmp_path, migrated_database)
    # Once per instance, as deploy/README.md says: two runs starting at once on an instance where the pool's limit was
    # never set both try to create it (Dagster inserts it without ON CONFLICT), and one run fails.
    subprocess.run([str(SCRIPTS / "dagster"), "instance", "concurrency", "set", "database-writers", "8"], cwd=tmp_path,
                   env=environment, check=True, capture_output=True, timeout=120)
    workers = start_celery_workers(2, environment, tmp_path, "roz-test")
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
        stop_processes(workers)

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
