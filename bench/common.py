"""What the benchmarks share (and the tests, where they need the same thing): throw-away databases on DATABASE_URL's
server or the embedded PostgreSQL under bench/out/roz, their URLs for dagster-postgres, timings and percentiles with
one contract, moto's credentials, and where a run's steps ran.

The benchmarks are scripts (`python bench/<name>.py`, or bench/run.py): bench/ is their folder, so they import this
module as `common`; the tests import it as `bench.common` (the repository root is on their path).
"""

import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from dagster import DagsterEventType, DagsterInstance
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from roz_pipeline import settings
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import embedded_database_url

OUT = Path(__file__).resolve().parent / "out"
SCRIPTS = Path(sys.executable).parent  # dagster-celery, celery and roz, installed beside this Python
# moto's S3 and SQS accept any keys; real ones are never needed (nor read: these are passed explicitly)
MOTO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def server_url() -> str:
    """A URL on the server the benchmarks may create databases in."""
    return settings.database_url() or embedded_database_url(OUT / "roz" / "pgdata", database="postgres")


def fresh_database(server: str, name: str) -> str:
    """Drop and create database `name` on `server`; its URL."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server, dbname=name)


def sqlalchemy_url(conninfo: str, scheme: str = "postgresql+psycopg2") -> str:
    """dagster-postgres' URL (psycopg2 driver, see deploy/dagster.yaml) for a libpq conninfo; socket dirs included."""
    params = conninfo_to_dict(conninfo)
    host, user = params.get("host", "127.0.0.1"), params.get("user", "postgres")
    if host.startswith("/"):
        return f"{scheme}://{user}@/{params['dbname']}?host={host}&port={params.get('port', 5432)}"
    return f"{scheme}://{user}@{host}:{params.get('port', 5432)}/{params['dbname']}"


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the value at rank int(fraction * n) of the sorted values (the largest for
    fraction 1); None when there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def timings(function, repeat: int) -> dict:
    """p50 (the median) and p95 (percentile) in ms of `function()` called `repeat` times, after one warm-up call (the
    pipeline's readers query a warm database)."""
    samples = []
    function()
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(samples), 2), "p95_ms": round(percentile(samples, 0.95), 2)}


def step_placements(home: str) -> list[dict]:
    """Every step of every run of the instance in `home`: its camera, the pid it ran in, its run's pid, and the Celery
    worker that took it."""
    placements = []
    with DagsterInstance.from_config(home) as instance:
        for run in instance.get_runs():
            workers, pids, run_pid = {}, {}, None
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None:
                    continue
                if event.event_type == DagsterEventType.RUN_START:
                    run_pid = event.pid
                elif event.event_type == DagsterEventType.STEP_START:
                    pids[event.step_key] = event.pid
                elif event.event_type == DagsterEventType.ENGINE_EVENT and event.event_specific_data:
                    worker = event.event_specific_data.metadata.get("Celery worker")
                    if worker is not None:
                        workers[event.step_key] = worker.value
            placements += [{"camera": run.tags.get("camera"), "step": step, "pid": pid, "run_pid": run_pid,
                            "worker": workers.get(step)} for step, pid in pids.items()]
    return placements


def lay_footage(videos: Path, clip: Path, cameras, first: datetime, minutes: int) -> None:
    """`minutes` one-minute clips per camera from `first`, named as Roz's own layout names them, each a hard link to
    `clip` (a symbolic link leading outside the clip folder is never read)."""
    for camera in cameras:
        for i in range(minutes):
            path = videos / ClipLayout.from_setting("roz").key(camera, first + timedelta(minutes=i))
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(clip, path)


def celery_environment(home: Path, database_url: str, videos: Path, registry: Path, first: datetime) -> dict:
    """The environment of every process of a Celery set-up (deploy/README.md): `roz`, the workers, the daemon."""
    return {**os.environ, "PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}",  # `celery` for the workers
            "DAGSTER_HOME": str(home), "DATABASE_URL": database_url, "ROZ_VIDEO_ROOT": str(videos),
            "ROZ_CAMERAS_FILE": str(registry), "ROZ_PARTITIONS_START": f"{first:%Y-%m-%d}", "ROZ_EXECUTOR": "celery",
            settings.CELERY_BROKER: settings.env(settings.CELERY_BROKER, settings.DEFAULT_CELERY_BROKER),
            settings.CELERY_BACKEND: settings.env(settings.CELERY_BACKEND, settings.DEFAULT_CELERY_BACKEND)}


def start_celery_workers(count: int, environment: dict, logs: Path, name: str) -> list[subprocess.Popen]:
    """`count` dagster-celery workers of concurrency 1 started as deploy/README.md says, each in a session of its
    own (stopped with its children), once each says it is ready."""
    workers = [subprocess.Popen(
        [str(SCRIPTS / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
         "-y", str(REPO_ROOT / "deploy" / "celery" / "celery.yaml"), "-n", f"{name}-{i}", "--", "--concurrency=1"],
        cwd=REPO_ROOT, env=environment, stdout=(logs / f"worker-{i}.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True) for i in range(count)]
    deadline = time.monotonic() + 120
    while not all("ready." in (logs / f"worker-{i}.log").read_text() for i in range(count)):
        if time.monotonic() > deadline or any(worker.poll() is not None for worker in workers):
            stop_processes(workers)
            raise RuntimeError(f"the Celery workers did not start: see {logs}")
        time.sleep(0.5)
    return workers


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each process's session, SIGKILL to one still running a minute later."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
