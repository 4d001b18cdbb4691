"""Live mode end to end with the real Dagster daemon: a recorder lands Frigate 10 s segments for N cameras at live
pace, `follow_cameras_sensor` starts the runs following the hour, and the runs write the rows.

    python bench/live.py [--cameras 10] [--minutes 5] [--cameras-per-run 10] [--code-server standalone|daemon]

The code location is served as deploy/README.md says (`--code-server standalone`: its own `dagster api grpc`, the
daemon and the runs reach it through deploy/workspace.yaml's form), or by the daemon itself from workspace.yaml
(`daemon`: what `dagster-daemon run -w workspace.yaml` does, reloading it every 60 s).

Measures, in one run:
- latency from the landing of a minute's last segment to its row (heatmap_minute_sources.computed_at), p50 / p95
  (target: within 2 minutes);
- CPU of every Dagster process (daemon, code server, runs; sampled every second) minus the CPU of extracting the
  same segments in this process afterwards, over that extraction CPU (target <= 15%), over the whole run and from
  the recording's second minute on (every run started: the steady state of a live hour);
- runs (following runs, each taking up to --cameras-per-run cameras; others read late clips), and the peak sum of
  the processes' RSS per camera (target <= 300 MB), with each kind of process' share.
The instance keeps runs on PostgreSQL (dagster-postgres) on DATABASE_URL's server (else the embedded one).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from common import OUT, fresh_database, percentile, server_url, sqlalchemy_url
from daemon import DAEMON, Tree, loud_lines, stop, workspace

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.lib.keys import CAMERA_TAG, FOLLOW_TAG
from roz_pipeline.registry import Camera
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import connect
from roz_pipeline.usecases.processing import read_minutes

SEGMENT = timedelta(seconds=10)
FRIGATE = ClipLayout.from_setting("frigate")


def segment_file(width: int, height: int, fps: int) -> Path:
    """One 10 s H.264 segment with people walking (copied under every segment's name)."""
    path = OUT / f"live_segment_{width}x{height}_{fps}.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        write_clip(path, width=width, height=height, fps=fps, frames=10 * fps, seed=3,
                   walkers=(Walker(start=(0, height // 2), end=(width - 40, height // 2),
                                   size=(width // 25, height // 6)),),
                   options={"g": str(fps), "keyint_min": str(fps), "sc_threshold": "0"})
    return path


def prepare(work: Path, cameras: int, server: str, cameras_per_run: int) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    home, root = work / "dagster", work / "recordings"
    home.mkdir(parents=True)
    root.mkdir()
    (work / "cameras.yaml").write_text("cameras:\n" + "".join(
        f"  cam-{i:02d}: {{source_name: Cam_{i:02d}, retention_days: 36500}}\n" for i in range(cameras)))
    instance = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    instance["storage"] = {"postgres": {"postgres_url": sqlalchemy_url(fresh_database(server, "roz_live_dagster"))}}
    instance["concurrency"]["runs"]["max_concurrent_runs"] = cameras + 4
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    return {**os.environ, "DAGSTER_HOME": str(home), "ROZ_VIDEO_ROOT": str(root), "ROZ_CLIP_LAYOUT": "frigate",
            "ROZ_CAMERAS_FILE": str(work / "cameras.yaml"),
            "DATABASE_URL": fresh_database(server, "roz_live_heatmaps"),
            "ROZ_PARTITIONS_START": f"{datetime.now(timezone.utc):%Y-%m-%d}",
            "ROZ_FOLLOW_CAMERAS_PER_RUN": str(cameras_per_run),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def record_live(root: Path, segment: Path, cameras: int, minutes: int, tree: Tree,
                steady: dict) -> dict[str, datetime]:
    """Land every camera's segments at live pace from the next whole minute; returns key -> landing time. `steady`
    gets the Dagster processes' CPU after the first 2 minutes (every run started) and at the end."""
    landed = {}
    start = floor(datetime.now(timezone.utc), MINUTE) + MINUTE
    end = start + timedelta(minutes=minutes)
    moment = start
    while moment < end:
        due = moment + SEGMENT + timedelta(seconds=1)
        while datetime.now(timezone.utc) < due:
            time.sleep(0.5)
            tree.sample()
        for camera in range(cameras):
            key = FRIGATE.key(f"Cam_{camera:02d}", moment)
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(segment, root / key)
            landed[key] = datetime.now(timezone.utc)
        moment += SEGMENT
        if moment == start + 2 * MINUTE:
            steady["from"] = (moment, tree.total_cpu(), tree.cpu_by_kind())
    steady["to"] = (moment, tree.total_cpu(), tree.cpu_by_kind())
    return landed


def extraction_cpu(root: Path, cameras: int) -> float:
    """CPU seconds this process spends reading every camera's landed segments into minutes, once."""
    store, before = LocalClipStore(root), resource.getrusage(resource.RUSAGE_SELF)
    registry = [Camera(f"cam-{i:02d}", source_name=f"Cam_{i:02d}") for i in range(cameras)]
    catalog = ClipCatalog(store, FRIGATE, registry)
    now = datetime.now(timezone.utc)
    listing = catalog.clips_starting([c.camera_id for c in registry], now - timedelta(hours=2), now)
    for camera in registry:
        clips = listing.clips[camera.camera_id]
        list(read_minutes(clips, store, camera, floor(clips[0].start, MINUTE), now))
    after = resource.getrusage(resource.RUSAGE_SELF)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def latencies(database: str, landed: dict[str, datetime]) -> list[float]:
    """Seconds from the landing of each full minute's last segment to its row."""
    last_landed: dict[tuple[str, datetime], datetime] = {}
    for key, when in landed.items():
        name = FRIGATE.parse(key)
        minute = (name.camera, floor(name.start, MINUTE))
        last_landed[minute] = max(last_landed.get(minute, when), when)
    with connect(database) as conn:
        rows = conn.execute('SELECT camera_id, "timestamp", computed_at FROM heatmap_minute_sources').fetchall()
    by_minute = {(f"Cam_{camera.split('-')[1]}", minute): computed for camera, minute, computed in rows}
    return sorted((by_minute[m] - when).total_seconds() for m, when in last_landed.items() if m in by_minute)


def run_tags(home: str) -> list[dict]:
    """The tags of every run of the instance in `home`."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(home) as instance:
        return [run.tags for run in instance.get_runs()]


def start_daemon(work: Path, workspace_file: Path, environment: dict) -> subprocess.Popen:
    """The two sensors live mode needs started, then the daemon, logging to daemon.log."""
    for sensor in ("follow_cameras_sensor", "new_clips_sensor"):
        subprocess.run(["dagster", "sensor", "start", sensor, "-w", str(workspace_file)], cwd=REPO_ROOT,
                       env=environment, check=True, capture_output=True)
    log = (work / "daemon.log").open("w")
    return subprocess.Popen(DAEMON + ["-w", str(workspace_file)], cwd=REPO_ROOT, env=environment,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def report(results: dict, lines: int, steady_outside: float) -> None:
    r = results
    print(f"{r['cameras']} cameras x {r['minutes']} live minutes: {r['rows']} of {r['minutes_recorded']} rows; latency "
          f"p50 {r['latency_p50_s']} s, p95 {r['latency_p95_s']} s (target <= 120)")
    print(f"CPU of the Dagster processes {r['dagster_processes_cpu_s']:.1f} s, extraction alone "
          f"{r['extraction_cpu_s']:.1f} s: outside extraction {r['outside_extraction_fraction']:.1%} of it over the "
          f"whole run, {steady_outside:.1%} from minute 2 on, when every run has started (target <= 15%); start-up "
          f"{r['start_up_cpu_per_camera_s']} s per camera")
    print("  from minute 2 on, CPU per kind of process / extraction CPU (runs include the extraction): "
          + ", ".join(f"{kind} {share:.1%}" for kind, share in r["steady_cpu_by_process_over_extraction"].items()))
    print(f"runs: {r['following_runs']} following the hour (up to {r['cameras_per_run']} cameras each), "
          f"{r['catch_up_runs']} catch-up ({r['all_runs']} in all, rollups included); code server {r['code_server']}; "
          f"peak RSS {r['peak_rss_per_camera_mb']} MB per camera (target <= 300): "
          + ", ".join(f"{kind} {mb} MB" for kind, mb in r["peak_rss_by_process_mb"].items()))
    print(f"log lines at INFO or above from minute 2 on: {lines} = {r['steady_loud_log_lines_per_camera_hour']:.2f} "
          "per camera-hour (target <= 2; the runs following the hour print one when they start)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--size", default="1280x720", help="segments' WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--cameras-per-run", type=int, default=10, help="ROZ_FOLLOW_CAMERAS_PER_RUN")
    parser.add_argument("--code-server", choices=("standalone", "daemon"), default="standalone")
    parser.add_argument("--drain", type=int, default=120, help="seconds to wait for rows after the last segment")
    parser.add_argument("--json", type=Path, default=OUT / "live.json")
    args = parser.parse_args(argv)
    work = OUT / "live"
    environment = prepare(work, args.cameras, server_url(), args.cameras_per_run)
    segment = segment_file(*(int(v) for v in args.size.split("x")), args.fps)
    workspace_file, servers = workspace(work, args.code_server, environment)
    daemon = start_daemon(work, workspace_file, environment)
    tree, steady = Tree([daemon, *servers]), {}
    try:
        landed = record_live(work / "recordings", segment, args.cameras, args.minutes, tree, steady)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            time.sleep(1)
            tree.sample()
        # before stopping: an interrupted step is retried under its RetryPolicy and would write its minutes again
        waits = latencies(environment["DATABASE_URL"], landed)
    finally:
        stop([daemon, *servers])  # a code server waits for its runs: the runs still following are killed
    tags = run_tags(environment["DAGSTER_HOME"])
    following = sum(FOLLOW_TAG in t for t in tags)
    catch_up = sum(CAMERA_TAG in t for t in tags)
    minutes_expected = args.cameras * args.minutes
    dagster_cpu = tree.total_cpu()
    extraction = extraction_cpu(work / "recordings", args.cameras)
    (first, cpu_first, kinds_first), (last, cpu_last, kinds_last) = steady["from"], steady["to"]
    lines = sum(loud_lines(work / name, first, last) for name in ("daemon.log", "code-server.log"))
    lines_per_camera_hour = lines / (args.cameras * (last - first) / timedelta(hours=1))
    steady_extraction = extraction * (last - first) / timedelta(minutes=args.minutes)
    steady_outside = (cpu_last - cpu_first - steady_extraction) / steady_extraction
    steady_by_kind = {kind: round((seconds - kinds_first.get(kind, 0.0)) / steady_extraction, 3)
                      for kind, seconds in sorted(kinds_last.items())}
    results = {
        "cameras": args.cameras, "minutes": args.minutes, "cameras_per_run": args.cameras_per_run,
        "code_server": args.code_server, "rows": len(waits), "minutes_recorded": minutes_expected,
        "latency_p50_s": round(percentile(waits, 0.5), 1) if waits else None,
        "latency_p95_s": round(percentile(waits, 0.95), 1) if waits else None,
        "dagster_processes_cpu_s": round(dagster_cpu, 1), "extraction_cpu_s": round(extraction, 1),
        "outside_extraction_fraction": round((dagster_cpu - extraction) / extraction, 3),
        "steady_outside_extraction_fraction": round(steady_outside, 3),
        "steady_cpu_by_process_over_extraction": steady_by_kind,
        "start_up_cpu_per_camera_s": round((cpu_first - extraction * 2 / args.minutes) / args.cameras, 1),
        "following_runs": following, "catch_up_runs": catch_up, "all_runs": len(tags),
        "peak_rss_per_camera_mb": round(tree.peak_rss / args.cameras / 2**20, 1),
        "steady_loud_log_lines_per_camera_hour": round(lines_per_camera_hour, 2),
        "peak_rss_by_process_mb": {kind: round(rss / 2**20) for kind, rss in sorted(tree.peak_rss_by_kind.items())},
    }
    report(results, lines, steady_outside)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
