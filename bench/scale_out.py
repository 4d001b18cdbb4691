"""Scale-out on Celery: the camera assets' steps executed by dagster-celery workers through RabbitMQ (broker) and
Redis (results), with the Dagster instance on PostgreSQL (dagster-postgres), 1 worker vs 2.

    python bench/scale_out.py [--minutes 10] [--workers 1 2] [--clip CLIP] [--work DIR] [--json OUT]

For each worker count: fresh databases `roz_scale_heatmaps` and `roz_scale_dagster` on DATABASE_URL's server (else
the embedded PostgreSQL under bench/out/roz), that many `dagster-celery worker start` processes (concurrency 1
each), then `roz materialize` for two cameras at once (ROZ_EXECUTOR=celery), each `minutes` minutes of CLIP (default:
bench/out/bench_1080p15_60s.mp4 from bench/extract.py). Prints the wall time, camera-minutes per wall-minute, and which
worker executed every step (from the run's event log: the step's pid and the Celery worker that took it).
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import yaml
from common import (
    OUT,
    celery_environment,
    fresh_database,
    lay_footage,
    server_url,
    sqlalchemy_url,
    start_celery_workers,
    step_placements,
    stop_processes,
)
from dagster import DagsterInstance

from roz_pipeline.lib.policies import WRITER_POOL
from roz_pipeline.settings import REPO_ROOT

CAMERAS = ("scale-a", "scale-b")
FIRST = datetime(2026, 11, 2, tzinfo=timezone.utc)


def prepare(work: Path, server_url: str, clip: Path, minutes: int) -> dict[str, str]:
    """Clips, registry, a PostgreSQL Dagster instance (deploy/dagster.yaml) and the environment of every process."""
    shutil.rmtree(work, ignore_errors=True)
    videos, home = work / "videos", work / "dagster"
    home.mkdir(parents=True)
    lay_footage(videos, clip, CAMERAS, FIRST, minutes)
    (work / "cameras.yaml").write_text("cameras:\n" + "".join(f"  {c}: {{retention_days: 36500}}\n" for c in CAMERAS))
    instance = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    dagster_db = fresh_database(server_url, "roz_scale_dagster")
    instance["storage"] = {"postgres": {"postgres_url": sqlalchemy_url(dagster_db)}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    # The instance's tables, and the writers pool's limit (deploy/README.md: once per instance), made here: workers and
    # runs starting together would race to create them (Dagster inserts the pool's limit without ON CONFLICT).
    with DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots(WRITER_POOL, 8)
    return celery_environment(home, fresh_database(server_url, "roz_scale_heatmaps"), videos, work / "cameras.yaml",
                              FIRST)


def run_cameras(environment: dict, minutes: int) -> tuple[float, list[int]]:
    """Both cameras' `roz materialize` at once; wall seconds and the launchers' pids."""
    end = FIRST + timedelta(minutes=minutes)
    started = time.perf_counter()
    launchers = [subprocess.Popen(
        [str(Path(sys.executable).parent / "roz"), "materialize", "--camera", camera, "--from", FIRST.isoformat(),
         "--to", end.isoformat()], cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for camera in CAMERAS]
    for launcher in launchers:
        out, err = launcher.communicate(timeout=3600)
        if launcher.returncode != 0:
            raise RuntimeError(f"roz materialize failed:\n{out}\n{err[-3000:]}")
    return time.perf_counter() - started, [launcher.pid for launcher in launchers]


def measure(workers: int, server_url: str, clip: Path, minutes: int, work: Path) -> dict:
    environment = prepare(work, server_url, clip, minutes)
    processes = start_celery_workers(workers, environment, work, "roz-bench")
    try:
        seconds, launcher_pids = run_cameras(environment, minutes)
    finally:
        stop_processes(processes)
    with psycopg.connect(environment["DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0]
    return {"workers": workers, "wall_s": round(seconds, 1), "rows": rows,
            "camera_minutes_per_wall_minute": round(len(CAMERAS) * minutes / (seconds / 60), 1),
            "launcher_pids": launcher_pids, "steps": step_placements(environment["DAGSTER_HOME"])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clip", type=Path, default=OUT / "bench_1080p15_60s.mp4")
    parser.add_argument("--work", type=Path, default=OUT, help="folder for clips, instance and worker logs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.clip.exists():
        sys.exit(f"{args.clip} is missing: run `python bench/extract.py` first, or pass --clip")
    server = server_url()
    results = [measure(count, server, args.clip, args.minutes, args.work / f"scale-{count}")
               for count in args.workers]
    base = results[0]["camera_minutes_per_wall_minute"]
    print(f"{'workers':>7} {'wall s':>8} {'camera-min/wall-min':>20} {'vs first':>9}  steps per worker")
    for r in results:
        per_worker = {}
        for step in r["steps"]:
            per_worker[step["worker"]] = per_worker.get(step["worker"], 0) + 1
        print(f"{r['workers']:7} {r['wall_s']:8.1f} {r['camera_minutes_per_wall_minute']:20.1f} "
              f"{r['camera_minutes_per_wall_minute'] / base:8.2f}x  {per_worker}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return {"runs": results}


if __name__ == "__main__":
    main()
