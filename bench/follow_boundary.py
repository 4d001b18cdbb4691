"""The hour boundary at N cameras: the follow_cameras_sensor tick that submits the new hour's following runs, through
the real daemon, submitting one run at a time vs as deploy/dagster.yaml ships (sensors in threads, 8 at a time).

    python bench/follow_boundary.py [--quick] [--cameras 1000] [--cameras-per-site 20] [--repeat 2] [--json OUT]

Each trial: N cameras (--quick: 100, 1 repeat) in sites of --cameras-per-site, Frigate's layout on a local folder
holding the last 5 minutes of 10 s placeholder segments up to now (every camera live in the hour in progress), taken
into a fresh heatmap database's clip inventory and marked read (as bench/control_plane.py prepares); a fresh Dagster
instance database on deploy/dagster.yaml with max_concurrent_runs 0 (queued runs never launch: the machine only
submits), a standalone code server, follow_cameras_sensor started (the sensors on by default stay on), then
`dagster-daemon run`. No following run exists, so its first tick submits cameras / ROZ_FOLLOW_CAMERAS_PER_RUN runs:
an hour boundary's work. The trial waits for that tick and the next, which must submit nothing.

Two instance configs, --repeat trials each, taking turns: "one at a time" (deploy/dagster.yaml without its `sensors:`
block: Dagster's default) and "as shipped". Prints each config's submitting tick (median of its trials), the runs it
created, and the ratio as shipped / one at a time. Exits non-zero when a trial failed or the trials created different
runs (run keys, each run's cameras and tags, the hour left out); asserts nothing about time.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import yaml
from common import OUT, fresh_database, server_url, sqlalchemy_url
from daemon import DAEMON, stop, workspace
from ingest_world import held_and_read, site_registry
from psycopg import sql

from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.registry import load_registry
from roz_pipeline.settings import REPO_ROOT, migrations_dir
from roz_pipeline.storage.migrations import Migrator

CONFIGS = ("one at a time", "as shipped")
DATABASES = ("roz_follow_dagster", "roz_follow_heatmaps")
LIVE_MINUTES = 5
WAIT_S = 300  # for the submitting tick and the next one
TRIAL = timedelta(minutes=6)  # a trial's set-up and ticks take ~4 minutes: all inside one hour
UNCOMPARED_TAGS = {"dagster/tick"}  # a tick's id: differs by nature


def instance_config(config: str, dagster_url: str) -> dict:
    """deploy/dagster.yaml on `dagster_url`, queued runs never launching, its `sensors:` block kept or removed."""
    instance = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    if "sensors" not in instance:
        raise RuntimeError("deploy/dagster.yaml has no sensors: block to compare against")
    instance["storage"] = {"postgres": {"postgres_url": sqlalchemy_url(dagster_url)}}
    instance["concurrency"]["runs"]["max_concurrent_runs"] = 0
    if config == "one at a time":
        del instance["sensors"]
    return instance


def live_cameras(root: Path, registry: Path, database_url: str) -> None:
    """Every camera's last LIVE_MINUTES of segments up to now, in the clip inventory, read."""
    started = time.perf_counter()
    Migrator(database_url, migrations_dir()).migrate()
    files = held_and_read(root, list(load_registry(registry).values()), database_url, datetime.now(timezone.utc),
                          LIVE_MINUTES / 60)
    print(f"  {files:,} segments laid, taken into the inventory and read in {time.perf_counter() - started:.0f} s",
          flush=True)


def trial(work: Path, config: str, registry: Path) -> dict:
    """One trial of `config` in `work` (emptied): the follow sensor's ticks and the runs they created. Starts inside
    the next hour when this one ends within TRIAL (a real hour boundary would submit the next hour's runs too)."""
    now = datetime.now(timezone.utc)
    if now + TRIAL > floor(now, HOUR) + HOUR:
        time.sleep((floor(now, HOUR) + HOUR + timedelta(minutes=1) - now).total_seconds())
    shutil.rmtree(work, ignore_errors=True)
    home, root = work / "dagster", work / "recordings"
    home.mkdir(parents=True)
    root.mkdir()
    server = server_url()
    dagster_url, heat_url = (fresh_database(server, name) for name in DATABASES)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(config, dagster_url)))
    environment = {**os.environ, "DAGSTER_HOME": str(home), "ROZ_VIDEO_ROOT": str(root), "ROZ_CLIP_LAYOUT": "frigate",
                   "ROZ_CAMERAS_FILE": str(registry), "ROZ_PARTITION_GRAIN": "hour", "DATABASE_URL": heat_url,
                   "ROZ_PARTITIONS_START": f"{datetime.now(timezone.utc) - timedelta(days=1):%Y-%m-%d}",
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    live_cameras(root, registry, heat_url)
    workspace_file, servers = workspace(work, "standalone", environment)
    processes = list(servers)
    try:
        location = yaml.safe_load(workspace_file.read_text())["load_from"][0]["grpc_server"]["location_name"]
        subprocess.run(["dagster", "sensor", "start", "follow_cameras_sensor", "-w", str(workspace_file), "-l",
                        location], cwd=REPO_ROOT, env=environment, check=True, capture_output=True)
        processes.append(subprocess.Popen(DAEMON + ["-w", str(workspace_file)], cwd=REPO_ROOT, env=environment,
                                          stdout=(work / "daemon.log").open("w"), stderr=subprocess.STDOUT,
                                          start_new_session=True))
        ticks = wait_for_ticks(home)
        runs = follow_runs(home)
    finally:
        stop(processes)
        drop(server)
    return {"config": config, "ticks": ticks, "runs": runs}


def wait_for_ticks(home: Path) -> list[dict]:
    """The follow sensor's ended ticks, once one submitted runs and a later one ended; a RuntimeError after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        time.sleep(5)  # each look opens the instance: not too often beside the daemon measured
        ticks = follow_ticks(home)
        submitting = [i for i, t in enumerate(ticks) if t["runs"]]
        if submitting and len(ticks) > submitting[0] + 1:
            return ticks
    raise RuntimeError(f"no submitting tick followed by another within {WAIT_S} s: see {home.parent}/daemon.log")


def follow_ticks(home: Path) -> list[dict]:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        states = [s for s in instance.all_instigator_state() if s.instigator_name == "follow_cameras_sensor"]
        ticks = [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=100)]
    return sorted(({"seconds": round(t.end_timestamp - t.timestamp, 2), "runs": len(t.run_ids),
                    "status": t.status.value, "start": t.timestamp} for t in ticks if t.end_timestamp),
                  key=lambda t: t["start"])


def follow_runs(home: Path) -> list[dict]:
    """Each run's key, cameras and tags, its hour replaced by HOUR."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    result = []
    for run in runs:
        config = run.run_config["ops"]["follow_cameras"]["config"]
        tags = {k: v.replace(config["partition_key"], "HOUR") for k, v in run.tags.items()
                if k not in UNCOMPARED_TAGS}
        result.append({"run_key": tags.get("dagster/run_key"), "cameras": config["cameras"], "tags": tags})
    return sorted(result, key=lambda r: r["run_key"] or "")


def drop(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        for name in DATABASES:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def summarize(trials: list[dict], cameras: int) -> dict:
    """Per config: the submitting tick of each trial, their median, the runs; the ratio; whether the runs agree."""
    configs = {}
    for config in CONFIGS:
        mine = [t for t in trials if t["config"] == config]
        firsts = [next(tick for tick in t["ticks"] if tick["runs"]) for t in mine]
        after = [t["ticks"][t["ticks"].index(first) + 1]["runs"] for t, first in zip(mine, firsts)]
        seconds = [first["seconds"] for first in firsts]
        configs[config] = {"submitting_tick_s": seconds, "median_s": round(statistics.median(seconds), 2),
                           "runs_submitted": [first["runs"] for first in firsts],
                           "runs_created": [len(t["runs"]) for t in mine], "next_tick_runs": after}
    reference = trials[0]["runs"]
    same = all(t["runs"] == reference for t in trials)
    clean = all(c["next_tick_runs"] == [0] * len(c["next_tick_runs"]) and c["runs_created"] == c["runs_submitted"]
                for c in configs.values())
    ratio = configs["as shipped"]["median_s"] / configs["one at a time"]["median_s"]
    return {"cameras": cameras, "configs": configs, "ratio_as_shipped_to_one_at_a_time": round(ratio, 3),
            "same_runs": same, "next_tick_submits_nothing": clean}


def report(results: dict) -> None:
    print(f"the hour boundary at {results['cameras']:,} cameras, follow_cameras_sensor's submitting tick:")
    for config, c in results["configs"].items():
        print(f"  {config:14} {c['median_s']:6.2f} s (median of {c['submitting_tick_s']}), runs created "
              f"{c['runs_created']}, the next tick submitted {c['next_tick_runs']}")
    print(f"  as shipped / one at a time: {results['ratio_as_shipped_to_one_at_a_time']:.2f} (target: the tick "
          f"<= 30 s); the same runs: {results['same_runs']}; the next tick submits nothing: "
          f"{results['next_tick_submits_nothing']}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 cameras, 1 repeat: checks the script")
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--cameras-per-site", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, default=OUT / "follow_boundary.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.cameras, args.repeat = 100, 1
    work = OUT / "follow_boundary"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    registry = site_registry(work / "cameras.yaml", args.cameras, args.cameras_per_site)
    trials = []
    for repeat in range(args.repeat):
        for config in CONFIGS:
            print(f"{config}, trial {repeat + 1} of {args.repeat}:", flush=True)
            trials.append(trial(work / f"{config.replace(' ', '_')}_{repeat}", config, registry))
    results = summarize(trials, args.cameras)
    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**results, "trials": trials}, indent=2))
    if not (results["same_runs"] and results["next_tick_submits_nothing"]):
        sys.exit("the configs created different runs, or a tick after the submitting one submitted runs")
    return results


if __name__ == "__main__":
    main()
