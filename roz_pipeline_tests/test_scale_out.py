"""Scale-out on an existing distributed engine: dagster-celery workers in separate processes execute the camera
steps, through RabbitMQ (broker) and Redis (results) on this machine, with the instance on PostgreSQL."""

import json
import os
import socket
import subprocess
import sys
from collections import Counter

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline_tests.helpers import skip_or_fail

pytestmark = pytest.mark.slow  # Celery workers in their own processes: `./run test -m "not slow"` leaves it out


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_celery_workers_execute_every_camera_step_in_their_own_processes(tmp_path, postgres_admin_url):
    if not (_listening(5672) and _listening(6379)):
        skip_or_fail("RabbitMQ (127.0.0.1:5672) and Redis (127.0.0.1:6379) are needed for the Celery scale-out")
    clip = tmp_path / "clip.mp4"
    write_clip(clip, width=320, height=180, frames=12, walkers=(Walker(start=(0, 80), end=(280, 80), size=(16, 40)),))

    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "scale_out.py"), "--minutes", "2", "--workers", "2",
         "--clip", str(clip), "--work", str(tmp_path / "work"), "--json", str(tmp_path / "scale.json")],
        env={**os.environ, "DATABASE_URL": postgres_admin_url}, capture_output=True, text=True,
        timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = json.loads((tmp_path / "scale.json").read_text())
    assert run["rows"] == 4  # two cameras x two minutes, written by the workers
    camera_steps = [s for s in run["steps"] if s["step"] in ("heatmap_minutes__scale_a", "heatmap_minutes__scale_b")]
    assert len(camera_steps) == 2
    for step in run["steps"]:
        assert step["worker"].startswith("roz-bench-"), step  # taken from the broker by one of our workers
        assert step["pid"] not in run["launcher_pids"] and step["pid"] != step["run_pid"], step  # not in the run's process
    assert len(Counter(s["pid"] for s in run["steps"])) <= 2  # the workers' two pool processes
    with psycopg.connect(make_conninfo(postgres_admin_url, dbname="roz_scale_heatmaps")) as conn:
        per_camera = dict(conn.execute("SELECT camera_id, count(*) FROM heatmap_minutes GROUP BY camera_id"))
    assert per_camera == {"scale-a": 2, "scale-b": 2}
