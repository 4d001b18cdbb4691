"""The Dagster UI's partition status of one camera asset at 90 days of history with 100 gaps: minute vs hour grain.

    python bench/partitions.py [--days 90] [--gaps 100] [--repeat 5]

For each grain, a fresh Dagster instance on PostgreSQL (dagster-postgres, as deploy/dagster.yaml; a database
`roz_bench_dagster_<grain>` on DATABASE_URL's server, else on the embedded PostgreSQL under bench/out/roz) gets
the asset `heatmap_minutes/bench` materialized over `days` days of partitions ending now, except `gaps` single
partitions spread evenly (missing footage). The materializations come from real ranged runs of a no-op asset with
the same key and partitions (no video needed), three processes at a time: Dagster stores ~60-100 events a second
per process, so 90 days of minutes (129,600 events) take a while. Then `dagster-webserver -w workspace.yaml` serves
the real code location (one camera, ROZ_PARTITION_GRAIN=<grain>) and the script times the GraphQL queries the asset
page sends: the partition status ranges and the partition counts (first call cold, then warm).
"""

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from common import OUT, fresh_database, server_url, sqlalchemy_url
from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

from roz_pipeline.lib.keys import RANGE_END_TAG, RANGE_START_TAG, minutes_key
from roz_pipeline.lib.launch import QUIET_CONSOLE
from roz_pipeline.lib.partitions import camera_partitions
from roz_pipeline.settings import REPO_ROOT

CAMERA = "bench"
POPULATE_PROCESSES = 3
STATUS_QUERY = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } }
} } }"""
LOADED_QUERY = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"
COUNT_QUERY = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  partitionStats { numMaterialized numPartitions numFailed numMaterializing }
} } }"""


def _stand_in(grain: str, start: str):
    @asset(key=minutes_key(CAMERA), partitions_def=camera_partitions(start, grain))
    def stand_in(context: AssetExecutionContext) -> None:
        """Same key and partitions as the camera asset; writes nothing."""

    return stand_in


def _materialize_ranges(home: str, grain: str, start: str, ranges: list[tuple[str, str]]) -> None:
    stand_in = _stand_in(grain, start)
    with DagsterInstance.from_config(home) as instance:
        for first_key, last_key in ranges:
            result = materialize([stand_in], instance=instance, run_config=QUIET_CONSOLE,  # no DEBUG line per event
                                 tags={RANGE_START_TAG: first_key, RANGE_END_TAG: last_key})
            assert result.success


def populate(home: Path, grain: str, start: str, gaps: int) -> dict:
    """Materialize every partition up to now except `gaps` evenly spread ones, in ranged runs between the gaps."""
    keys = camera_partitions(start, grain).get_partition_keys(current_time=datetime.now(timezone.utc))
    gap_indexes = {round((i + 1) * len(keys) / (gaps + 1)) for i in range(gaps)}
    ranges, first = [], 0
    for index in sorted(gap_indexes) + [len(keys)]:
        if first < index:
            ranges.append((keys[first], keys[index - 1]))
        first = index + 1
    started = time.perf_counter()
    DagsterInstance.from_config(str(home)).dispose()  # create the storage's tables once, before the workers race to
    with ProcessPoolExecutor(POPULATE_PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_materialize_ranges, *zip(*[(str(home), grain, start, ranges[i::POPULATE_PROCESSES])
                                                  for i in range(POPULATE_PROCESSES)])))
    return {"partitions": len(keys), "gaps": len(gap_indexes), "ranged_runs": len(ranges),
            "populate_s": round(time.perf_counter() - started, 1)}


def graphql(port: int, query: str) -> tuple[float, dict]:
    body = json.dumps({"query": query, "variables": {"path": ["heatmap_minutes", CAMERA]}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - started, answer["data"]


def measure(home: Path, grain: str, start: str, repeat: int, port: int) -> dict:
    registry = home / "cameras.yaml"
    registry.write_text(f"cameras:\n  {CAMERA}: {{retention_days: 36500}}\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ROZ_CAMERAS_FILE": str(registry), "ROZ_PARTITION_GRAIN": grain,
           "ROZ_PARTITIONS_START": start, "ROZ_HOME": str(home / "roz")}
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen([str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:  # the code location loaded: what a user waits for once, whatever the partitions
            with contextlib.suppress(OSError, KeyError, TypeError):
                if graphql(port, LOADED_QUERY)[1]["repositoriesOrError"]["nodes"]:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("dagster-webserver did not answer within 180 s")
            time.sleep(1)
        cold, status = graphql(port, STATUS_QUERY)  # the first status query of this webserver process
        status = status["assetNodeOrError"]
        warm = [graphql(port, STATUS_QUERY)[0] for _ in range(repeat)]
        count_times, counts = zip(*(graphql(port, COUNT_QUERY) for _ in range(repeat)))
        counts = [c["assetNodeOrError"] for c in counts]
    finally:
        process.terminate()
        process.wait(timeout=30)
    ranges = status["assetPartitionStatuses"]["ranges"]
    return {"status_cold_s": round(cold, 3), "status_warm_p50_s": round(statistics.median(warm), 3),
            "counts_p50_s": round(statistics.median(count_times), 3), "status_ranges": len(ranges),
            "materialized": counts[0]["partitionStats"]["numMaterialized"],
            "partitions_total": counts[0]["partitionStats"]["numPartitions"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--gaps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    start = (datetime.now(timezone.utc) - timedelta(days=args.days)).strftime("%Y-%m-%d")
    server = server_url()
    results = {}
    for port_offset, grain in enumerate(("minute", "hour")):
        home = OUT / f"partitions-{grain}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        storage = sqlalchemy_url(fresh_database(server, f"roz_bench_dagster_{grain}"))
        (home / "dagster.yaml").write_text(yaml.safe_dump({"storage": {"postgres": {"postgres_url": storage}},
                                                           "telemetry": {"enabled": False}}))
        results[grain] = populate(home, grain, start, args.gaps)
        results[grain].update(measure(home, grain, start, args.repeat, 3390 + port_offset))
    print(f"{'grain':8} {'partitions':>10} {'gaps':>5} {'status cold s':>14} {'status warm s':>14} "
          f"{'counts s':>9} {'ranges':>7}")
    for grain, r in results.items():
        print(f"{grain:8} {r['partitions']:10,} {r['gaps']:5} {r['status_cold_s']:14.3f} "
              f"{r['status_warm_p50_s']:14.3f} {r['counts_p50_s']:9.3f} {r['status_ranges']:7}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
