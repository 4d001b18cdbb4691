"""Live mode end to end with the real Dagster daemon: a recorder lands Frigate 10 s segments for N cameras at live
pace, `new_clips_sensor` starts the runs, and the runs write the rows.

    python bench/live.py [--cameras 10] [--minutes 5] [--json OUT]

Measures, in one run:
- latency from the landing of a minute's last segment to its row (heatmap_minute_sources.computed_at), p50 / p95
  (target: within 2 minutes);
- CPU of every Dagster process (daemon, code server, runs; sampled every second) minus the CPU of extracting the
  same segments in this process afterwards, over that extraction CPU (target <= 15%), over the whole run and from
  the recording's second minute on (every run started: the steady state of a live hour);
- runs per camera (one follows its hour; others read late clips), and the peak sum of the processes' RSS per camera
  (target <= 300 MB).
The instance keeps runs on PostgreSQL (dagster-postgres) on DATABASE_URL's server (else the embedded one).
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from databases import fresh_database, server_url, sqlalchemy_url  # noqa: E402
from roz_pipeline.cli.footage import Walker, write_clip  # noqa: E402
from roz_pipeline.clips.catalog import ClipCatalog  # noqa: E402
from roz_pipeline.clips.layout import ClipLayout  # noqa: E402
from roz_pipeline.clips.stores import LocalClipStore  # noqa: E402
from roz_pipeline.core.timesteps import MINUTE, floor  # noqa: E402
from roz_pipeline.defs.keys import CAMERA_TAG, FOLLOW_TAG  # noqa: E402
from roz_pipeline.registry import Camera  # noqa: E402
from roz_pipeline.settings import REPO_ROOT  # noqa: E402
from roz_pipeline.storage.connection import connect  # noqa: E402
from roz_pipeline.usecases.processing import read_minutes  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
SEGMENT = timedelta(seconds=10)
FRIGATE = ClipLayout.from_setting("frigate")


def segment_file(width: int, height: int, fps: int) -> Path:
    """One 10 s H.264 segment with people walking (copied under every segment's name)."""
    path = OUT / f"live_segment_{width}x{height}_{fps}.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        write_clip(path, width=width, height=height, fps=fps, frames=10 * fps, seed=3,
                   walkers=(Walker(start=(0, height // 2), end=(width - 40, height // 2), size=(width // 25, height // 6)),),
                   options={"g": str(fps), "keyint_min": str(fps), "sc_threshold": "0"})
    return path


def prepare(work: Path, cameras: int, server: str) -> dict:
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
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


class Tree:
    """The daemon's process tree, sampled: CPU seconds per process (last seen) and the peak sum of RSS."""

    def __init__(self, root: subprocess.Popen):
        self.root = psutil.Process(root.pid)
        self.cpu: dict[tuple, float] = {}
        self.peak_rss = 0

    def sample(self) -> None:
        rss = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                self.cpu[(process.pid, process.create_time())] = times.user + times.system
                rss += process.memory_info().rss
            except psutil.Error:
                continue
        self.peak_rss = max(self.peak_rss, rss)

    def total_cpu(self) -> float:
        return sum(self.cpu.values())


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
            steady["from"] = (moment, tree.total_cpu())
    steady["to"] = (moment, tree.total_cpu())
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--size", default="1280x720", help="segments' WIDTHxHEIGHT (default %(default)s)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--drain", type=int, default=120, help="seconds to wait for rows after the last segment")
    parser.add_argument("--json", type=Path, default=OUT / "live.json")
    args = parser.parse_args(argv)
    work = OUT / "live"
    environment = prepare(work, args.cameras, server_url())
    segment = segment_file(*(int(v) for v in args.size.split("x")), args.fps)
    subprocess.run(["dagster", "sensor", "start", "new_clips_sensor", "-w", "workspace.yaml"], cwd=REPO_ROOT,
                   env=environment, check=True, capture_output=True)
    log = (work / "daemon.log").open("w")
    daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO_ROOT, env=environment,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tree, steady = Tree(daemon), {}
    try:
        landed = record_live(work / "recordings", segment, args.cameras, args.minutes, tree, steady)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            time.sleep(1)
            tree.sample()
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    from dagster import DagsterInstance

    with DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
        tags = [run.tags for run in instance.get_runs()]
    following = sum(FOLLOW_TAG in t for t in tags)
    catch_up = sum(CAMERA_TAG in t and FOLLOW_TAG not in t for t in tags)
    waits = latencies(environment["DATABASE_URL"], landed)
    minutes_expected = args.cameras * args.minutes
    dagster_cpu = tree.total_cpu()
    extraction = extraction_cpu(work / "recordings", args.cameras)
    (first, cpu_first), (last, cpu_last) = steady["from"], steady["to"]
    steady_extraction = extraction * (last - first) / timedelta(minutes=args.minutes)
    steady_outside = (cpu_last - cpu_first - steady_extraction) / steady_extraction
    results = {
        "cameras": args.cameras, "minutes": args.minutes, "rows": len(waits), "minutes_recorded": minutes_expected,
        "latency_p50_s": round(waits[len(waits) // 2], 1) if waits else None,
        "latency_p95_s": round(waits[int(len(waits) * 0.95)], 1) if waits else None,
        "dagster_processes_cpu_s": round(dagster_cpu, 1), "extraction_cpu_s": round(extraction, 1),
        "outside_extraction_fraction": round((dagster_cpu - extraction) / extraction, 3),
        "steady_outside_extraction_fraction": round(steady_outside, 3),
        "start_up_cpu_per_camera_s": round((cpu_first - extraction * 2 / args.minutes) / args.cameras, 1),
        "following_runs_per_camera": round(following / args.cameras, 2),
        "other_camera_runs_per_camera": round(catch_up / args.cameras, 2), "all_runs": len(tags),
        "peak_rss_per_camera_mb": round(tree.peak_rss / args.cameras / 2**20, 1),
    }
    print(f"{args.cameras} cameras x {args.minutes} live minutes: {len(waits)} of {minutes_expected} rows; latency "
          f"p50 {results['latency_p50_s']} s, p95 {results['latency_p95_s']} s (target <= 120)")
    print(f"CPU of the Dagster processes {dagster_cpu:.1f} s, extraction alone {extraction:.1f} s: outside "
          f"extraction {results['outside_extraction_fraction']:.1%} of it over the whole run, "
          f"{steady_outside:.1%} from minute 2 on, when every run has started (target <= 15%); start-up "
          f"{results['start_up_cpu_per_camera_s']} s per camera")
    print(f"runs per camera: {results['following_runs_per_camera']} following its hour, "
          f"{results['other_camera_runs_per_camera']} others ({len(tags)} runs in all, rollups included); peak RSS "
          f"{results['peak_rss_per_camera_mb']} MB per camera (target <= 300)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
