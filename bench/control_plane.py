"""The control plane at N cameras with no footage arriving: the real daemon's sensor ticks, the CPU and memory of the
daemon and the code server, the log they print, and the UI's GraphQL queries.

    python bench/control_plane.py [--quick] [--cameras 1000] [--cameras-per-site 20] [--locations 1]
                                  [--history-hours 2] [--minutes 10] [--warm-up 3] [--repeat 3]
                                  [--browser CHROMIUM] [--json OUT]

N cameras (--quick: 20) in sites of --cameras-per-site (each site one asset group), hour partitions, Frigate's
layout on a local folder holding --history-hours of 10 s placeholder segments per camera that ended 20 minutes ago
and before the hour in progress (no camera is live: nothing to follow), taken into the clip inventory and marked
read beforehand (as runs would have), so the sensors have history to look at and nothing to start. The instance
keeps everything on PostgreSQL (deploy/dagster.yaml) on DATABASE_URL's server (else the embedded one); the code
location is its own `dagster api grpc` (deploy/README.md), or --locations of them splitting the sites by
`ROZ_SITES` (deploy/README.md, "Sites"); every sensor is started, then `dagster-daemon run
--log-level warning` (as deploy/README.md runs it) ticks them for --warm-up + --minutes minutes (--quick: 1 + 3).

Prints, over the --minutes after the warm-up:
- each sensor's tick duration p50 / p95 from the instance's tick records (target: p95 <= 5 s);
- CPU of the daemon and of the code server, as a share of one core (target: together <= 10%), and their RSS;
- lines at INFO or above that the daemon and the code server printed, per camera-hour (target: <= 2);
then starts `dagster-webserver` and times the GraphQL queries the UI sends for the asset catalog, the asset graph,
one site's group and one camera's asset page (median of --repeat, target <= 1 s each); with --browser, goes through
those pages in Chromium as a user does (a first visit, then the next pages) and times every GraphQL operation they
really send. Asserts nothing about time.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from common import OUT, fresh_database, percentile, server_url, sqlalchemy_url
from control_plane_ui import ui_queries
from daemon import DAEMON, Tree, loud_lines, stop, workspace
from ingest_world import held_and_read, site_registry

from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.registry import load_registry
from roz_pipeline.settings import REPO_ROOT

QUIET_FOR = timedelta(minutes=20)  # the history ends this long ago, and before this hour: no camera is live


def prepare(work: Path, cameras: int, per_site: int, history_hours: float) -> dict:
    work.mkdir(parents=True)
    home, root = work / "dagster", work / "recordings"
    home.mkdir()
    root.mkdir()
    site_registry(work / "cameras.yaml", cameras, per_site)
    server = server_url()
    instance = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    instance["storage"] = {"postgres": {"postgres_url": sqlalchemy_url(fresh_database(server, "roz_cp_dagster"))}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    environment = {**os.environ, "DAGSTER_HOME": str(home), "ROZ_VIDEO_ROOT": str(root), "ROZ_CLIP_LAYOUT": "frigate",
                   "ROZ_CAMERAS_FILE": str(work / "cameras.yaml"), "ROZ_PARTITION_GRAIN": "hour",
                   "DATABASE_URL": fresh_database(server, "roz_cp_heatmaps"),
                   "ROZ_PARTITIONS_START": f"{datetime.now(timezone.utc) - timedelta(days=1):%Y-%m-%d}",
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["roz", "db", "migrate"], env=environment, check=True, capture_output=True)

    registry = list(load_registry(work / "cameras.yaml").values())
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    files = held_and_read(root, registry, environment["DATABASE_URL"], min(now - QUIET_FOR, floor(now, HOUR)),
                          history_hours)
    print(f"{cameras:,} cameras: {files:,} placeholder segments laid, taken in and marked read in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return environment


def tick_durations(home: Path, since: float) -> dict[str, list[float]]:
    """Each sensor's tick durations (seconds), every code location's, of the ticks started after `since`."""
    from dagster import DagsterInstance

    durations: dict[str, list[float]] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for state in instance.all_instigator_state():
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=10_000)
            durations.setdefault(state.instigator_name, []).extend(
                t.end_timestamp - t.timestamp for t in ticks if t.timestamp >= since and t.end_timestamp)
    return {name: sorted(values) for name, values in durations.items()}


def start_daemon(work: Path, workspace_file: Path, environment: dict) -> subprocess.Popen:
    """Every sensor of every location started, then the daemon, logging to daemon.log."""
    for location in yaml.safe_load(workspace_file.read_text())["load_from"]:
        subprocess.run(["dagster", "sensor", "start", "--start-all", "-w", str(workspace_file), "-l",
                        location["grpc_server"]["location_name"]], cwd=REPO_ROOT, env=environment, check=True,
                       capture_output=True)
    return subprocess.Popen(DAEMON + ["-w", str(workspace_file)], cwd=REPO_ROOT, env=environment,
                            stdout=(work / "daemon.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def report(results: dict, warm_up: float, repeat: int) -> None:
    print(f"{results['cameras']:,} cameras in {results['locations']} code location(s), {results['minutes']:g} minutes "
          f"after a {warm_up:g}-minute warm-up, no footage arriving:")
    for name, t in results["sensor_ticks"].items():
        if t["ticks"]:
            print(f"  {name:28} {t['ticks']:>3} ticks, p50 {t['p50_s']:.2f} s, p95 {t['p95_s']:.2f} s (p95 <= 5 s)")
    print(f"  CPU, share of one core: {results['idle_cpu_share']:.1%} (<= 10%): "
          + ", ".join(f"{kind} {share:.1%}" for kind, share in sorted(results["cpu_share_of_a_core"].items())))
    print("  peak RSS: " + ", ".join(f"{kind} {mb} MB" for kind, mb in sorted(results["peak_rss_mb"].items())))
    print(f"  log lines at INFO or above: {results['loud_log_lines']} = {results['loud_lines_per_camera_hour']} per "
          "camera-hour (<= 2)")
    print("  UI GraphQL, median of {}: ".format(repeat)
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in results["ui_query_s"].items()) + " (each <= 1 s)")
    for page, operations in (results["browser_operations_s"] or {}).items():
        print(f"  in the browser, {page}: {len(operations)} GraphQL operation(s), the slowest "
              + ", ".join(f"{op} {seconds:.2f} s" for op, seconds in list(operations.items())[:3]))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 cameras, 1 + 3 minutes: checks the script")
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--cameras-per-site", type=int, default=20)
    parser.add_argument("--history-hours", type=float, default=2)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warm-up", type=float, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--locations", type=int, default=1, help="code locations splitting the sites (ROZ_SITES)")
    parser.add_argument("--browser", metavar="CHROMIUM", help="also load the UI's pages in this Chromium (playwright "
                        "installed) and time every GraphQL operation they send")
    parser.add_argument("--json", type=Path, default=OUT / "control_plane.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.cameras, args.minutes, args.warm_up = 20, 3, 1
    work = OUT / "control_plane"
    shutil.rmtree(work, ignore_errors=True)
    environment = prepare(work, args.cameras, args.cameras_per_site, args.history_hours)
    sites = [f"site_{i:03d}" for i in range(-(-args.cameras // args.cameras_per_site))]
    groups = [",".join(sites[i::args.locations]) for i in range(args.locations)] if args.locations > 1 else None
    workspace_file, servers = workspace(work, "standalone", environment, groups)
    daemon = start_daemon(work, workspace_file, environment)
    logs = [work / "daemon.log", *work.glob("code-server*.log")]
    tree = Tree([daemon, *servers])
    try:
        end_of_warm_up = time.monotonic() + args.warm_up * 60
        while time.monotonic() < end_of_warm_up:
            tree.sample()
            time.sleep(1)
        since, cpu_before = time.time(), tree.cpu_by_kind()
        started = time.monotonic()
        while time.monotonic() < started + args.minutes * 60:
            tree.sample()
            time.sleep(1)
        elapsed = time.monotonic() - started
        cpu = {kind: round((seconds - cpu_before.get(kind, 0.0)) / elapsed, 4)
               for kind, seconds in tree.cpu_by_kind().items()}
        lines = sum(loud_lines(log, datetime.fromtimestamp(since, timezone.utc), datetime.now(timezone.utc))
                    for log in logs)
        ticks = tick_durations(Path(environment["DAGSTER_HOME"]), since)
        ui, pages = ui_queries(work, environment, workspace_file, args.repeat, args.browser)
    finally:
        stop([daemon, *servers])
    camera_hours = args.cameras * elapsed / HOUR.total_seconds()
    results = {
        "cameras": args.cameras, "locations": args.locations, "minutes": args.minutes,
        "history_hours": args.history_hours,
        "sensor_ticks": {name: {"ticks": len(d), "p50_s": percentile(d, 0.5), "p95_s": percentile(d, 0.95)}
                         for name, d in sorted(ticks.items())},
        "cpu_share_of_a_core": cpu, "idle_cpu_share": round(sum(cpu.values()), 4),
        "peak_rss_mb": {kind: round(rss / 2**20) for kind, rss in tree.peak_rss_by_kind.items()},
        "loud_log_lines": lines, "loud_lines_per_camera_hour": round(lines / camera_hours, 3),
        "ui_query_s": ui, "browser_operations_s": pages,
    }
    report(results, args.warm_up, args.repeat)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
