"""What asking for the rollups costs a tick: `rollup_automation_sensor` (reads the materializations stored since its
last tick) vs the declarative automation it replaced (evaluates every rollup asset's condition every tick), at N
cameras, on the same instance in the same run.

    python bench/rollups.py [--quick] [--cameras 100 1000] [--days 1] [--ticks 3] [--json OUT]

Per N (--quick: 20 cameras, 2 ticks): a registry of N cameras at hour partitions; a fresh Dagster instance (SQLite,
as `dagster dev` keeps it) holding --days of hour materializations of every camera's minutes (recorded as the
following runs record them, without running anything); a first evaluation of each option (not timed); then
--ticks ticks of each, one more hour of every camera's minutes stored before each, the clock an hour later. Both
request the same hours (checked). Prints the median tick of each and their ratio; asserts nothing about time.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster import (
    AssetMaterialization,
    AutomationCondition,
    Definitions,
    build_sensor_context,
    evaluate_automation_conditions,
    instance_for_test,
)

from roz_pipeline.defs import build_definitions
from roz_pipeline.lib.keys import DAYS_PREFIX, HOURS_PREFIX, hours_key, minutes_key
from roz_pipeline.lib.partitions import PARTITION_FORMAT
from roz_pipeline.lib.resources import HeatmapDatabase, LocalClips

START = datetime(2026, 11, 2, tzinfo=timezone.utc)

# The condition each rollup asset carried before rollup_automation_sensor (the baseline).
DECLARATIVE = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.in_latest_time_window()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
)


def measure(cameras: int, days: int, ticks: int, work: Path) -> dict:
    registry = work / f"cameras-{cameras}.yaml"
    registry.write_text("cameras:\n" + "".join(f"  cam{i:04d}: {{}}\n" for i in range(cameras)))
    clock = [START + timedelta(days=days, minutes=5)]
    resources = {"database": HeatmapDatabase(url="postgresql://127.0.0.1:1/unused"),
                 "clips": LocalClips(root=str(work), layout="frigate")}
    defs = build_definitions(registry, resources, partitions_start=f"{START:%Y-%m-%d}", grain="hour",
                             clock=lambda: clock[0])
    assets = [asset.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=DECLARATIVE))
              if next(iter(asset.keys)).path[0] in (HOURS_PREFIX, DAYS_PREFIX) else asset
              for asset in defs.assets if hasattr(asset, "keys")]
    rollups = Definitions(assets=assets, resources=defs.resources)
    sensor = defs.resolve_sensor_def("rollup_automation_sensor")
    camera_ids = [f"cam{i:04d}" for i in range(cameras)]

    def store_hour(hour: datetime) -> None:
        for camera_id in camera_ids:
            instance.report_runless_asset_event(AssetMaterialization(minutes_key(camera_id),
                                                                     partition=hour.strftime(PARTITION_FORMAT)))

    (work / f"instance-{cameras}").mkdir()
    with instance_for_test(temp_dir=str(work / f"instance-{cameras}")) as instance:
        started = time.perf_counter()
        for hour in range(days * 24):
            store_hour(START + timedelta(hours=hour))
        history_s = time.perf_counter() - started
        sensor_cursor = sensor(build_sensor_context(instance=instance, definitions=defs)).cursor
        automation_cursor = evaluate_automation_conditions(rollups, instance, evaluation_time=clock[0]).cursor
        times = {"sensor": [], "declarative": []}
        for tick in range(ticks):
            hour = START + timedelta(days=days, hours=tick)
            store_hour(hour)
            clock[0] = hour + timedelta(hours=1, minutes=5)
            started = time.perf_counter()
            result = sensor(build_sensor_context(instance=instance, definitions=defs, cursor=sensor_cursor))
            times["sensor"].append(time.perf_counter() - started)
            sensor_cursor = result.cursor
            started = time.perf_counter()
            evaluation = evaluate_automation_conditions(rollups, instance, cursor=automation_cursor,
                                                        evaluation_time=clock[0])
            times["declarative"].append(time.perf_counter() - started)
            automation_cursor = evaluation.cursor
            by_sensor = {(r.asset_selection[0].path[1], r.tags["dagster/asset_partition_range_start"])
                         for r in result.run_requests}
            by_automation = {(camera_id, partition) for camera_id in camera_ids
                             for partition in evaluation.get_requested_partitions(hours_key(camera_id))}
            assert by_sensor == by_automation, (len(by_sensor), len(by_automation))
    sensor_s, declarative_s = (statistics.median(times[k]) for k in ("sensor", "declarative"))
    return {"cameras": cameras, "assets": len(assets), "history_hours": days * 24,
            "history_write_s": round(history_s, 1), "requests_per_tick": len(by_sensor),
            "sensor_tick_s": round(sensor_s, 3),
            "declarative_tick_s": round(declarative_s, 3), "declarative_vs_sensor": round(declarative_s / sensor_s, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 cameras, 2 ticks: checks the script, not the numbers")
    parser.add_argument("--cameras", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.cameras, args.ticks = [20], 2
    results = {"sizes": []}
    with tempfile.TemporaryDirectory(prefix="roz-bench-rollups-") as work:
        for cameras in args.cameras:
            r = measure(cameras, args.days, args.ticks, Path(work))
            results["sizes"].append(r)
            print(f"{cameras:>5} cameras ({r['assets']} assets, {r['history_hours']} h of history, "
                  f"{r['requests_per_tick']} hours asked per tick): rollup_automation_sensor "
                  f"{r['sensor_tick_s']:.3f} s, declarative automation {r['declarative_tick_s']:.3f} s "
                  f"({r['declarative_vs_sensor']}x)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
