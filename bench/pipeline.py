"""Orchestration overhead and end-to-end throughput of the camera assets, against compute measured in the same run.

    python bench/pipeline.py [--minutes 60] [--singles 60]

Uses bench/out/bench_1080p15_60s.mp4 (made by bench/extract.py) as every minute's clip, the embedded PostgreSQL
under bench/out/roz, and a Dagster instance under bench/out/dagster. Prints:
  - compute alone: compute_heatmap + write for each minute, no Dagster;
  - one ranged run over the same minutes (execute_in_process of the asset job, as a backfill chunk runs);
  - the same minutes as single-minute runs (the first `--singles` of them): Dagster's cost per run (in process;
    a launched run adds process start-up on top);
  - two cameras' ranged runs in two processes at once: camera-minutes per wall-minute end to end.
"""

import argparse
import multiprocessing
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import OUT, lay_footage
from dagster import DagsterInstance

from roz_pipeline.defs import build_definitions
from roz_pipeline.lib.keys import minutes_key
from roz_pipeline.lib.launch import CameraRange, execute_ranges
from roz_pipeline.lib.partitions import PARTITION_FORMAT
from roz_pipeline.lib.resources import HeatmapDatabase, LocalClips
from roz_pipeline.registry import load_registry
from roz_pipeline.usecases.processing import process_window

CLIP = OUT / "bench_1080p15_60s.mp4"
CAMERAS = ("bench-a", "bench-b")
FIRST = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)


def prepare(minutes: int) -> Path:
    """A clip folder with `minutes` hard links to the benchmark clip for each camera, and a registry."""
    if not CLIP.exists():
        sys.exit(f"{CLIP} is missing: run `python bench/extract.py` first")
    videos = OUT / "pipeline_videos"
    shutil.rmtree(videos, ignore_errors=True)
    lay_footage(videos, CLIP, CAMERAS, FIRST, minutes)
    (OUT / "cameras.yaml").write_text("cameras:\n" + "".join(f"  {c}: {{}}\n" for c in CAMERAS))
    return videos


def definitions(videos: Path, database_url: str):
    resources = {"database": HeatmapDatabase(url=database_url), "clips": LocalClips(root=str(videos))}
    return build_definitions(OUT / "cameras.yaml", resources, partitions_start="2026-11-01", grain="minute")


def ranged_run(camera: str, first: datetime, minutes: int, database_url: str) -> float:
    """Wall seconds of one ranged run of `camera` over `minutes` minutes from `first`."""
    videos = OUT / "pipeline_videos"
    instance = DagsterInstance.from_config(str(OUT / "dagster"))
    camera_range = CameraRange(camera, minutes_key(camera), first.strftime(PARTITION_FORMAT),
                               (first + timedelta(minutes=minutes - 1)).strftime(PARTITION_FORMAT))
    started = time.perf_counter()
    ((_, result),) = execute_ranges([camera_range], instance, in_process=definitions(videos, database_url))
    assert result.success
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--singles", type=int, default=60, help="single-minute runs to time (at most --minutes)")
    args = parser.parse_args(argv)
    args.singles = min(args.singles, args.minutes)
    (OUT / "dagster").mkdir(parents=True, exist_ok=True)
    (OUT / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    videos = prepare(args.minutes)
    database = HeatmapDatabase(roz_home=str(OUT / "roz"))
    database.migrate()
    url = database.resolved_url()  # the embedded server this process started; spawned workers connect to it
    camera = load_registry(OUT / "cameras.yaml")[CAMERAS[0]]
    end = FIRST + timedelta(minutes=args.minutes)

    started = time.perf_counter()
    with database.connection() as conn:
        report = process_window(camera, LocalClips(root=str(videos)).catalog([camera]), conn, FIRST, end)
    compute = time.perf_counter() - started
    assert len(report.written) == args.minutes
    ranged = ranged_run(CAMERAS[0], FIRST, args.minutes, url)
    singles = [ranged_run(CAMERAS[0], FIRST + timedelta(minutes=i), 1, url) for i in range(args.singles)]
    per_minute = compute / args.minutes
    single_run = statistics.median(singles)
    ranged_for_singles = ranged * args.singles / args.minutes

    context = multiprocessing.get_context("spawn")
    pool = context.Pool(2)
    started = time.perf_counter()
    pool.starmap(ranged_run, [(c, FIRST, args.minutes, url) for c in CAMERAS])
    parallel = time.perf_counter() - started
    pool.close()  # let the workers exit on their own (leaving the `with` block would terminate them mid-cleanup)
    pool.join()

    results = {
        "minutes": args.minutes, "compute_s": round(compute, 1), "ranged_run_s": round(ranged, 1),
        "ranged_overhead_fraction": round((ranged - compute) / compute, 4),
        "single_runs": args.singles, "single_runs_total_s": round(sum(singles), 1),
        "single_run_median_s": round(single_run, 2), "dagster_s_per_single_run": round(single_run - per_minute, 2),
        "singles_vs_ranged_same_minutes": round(sum(singles) / ranged_for_singles, 3),
        "two_cameras_parallel_s": round(parallel, 1),
        "camera_minutes_per_wall_minute": round(2 * args.minutes / (parallel / 60), 1),
    }
    print(f"{args.minutes} minutes of 1080p15 (900 frames each), embedded PostgreSQL, "
          f"{multiprocessing.cpu_count()} cores")
    print(f"{'compute + write alone (no Dagster)':52} {compute:8.1f} s   {per_minute:.2f} s/minute")
    print(f"{'one ranged run of the same minutes':52} {ranged:8.1f} s   overhead {ranged - compute:+.1f} s = "
          f"{(ranged - compute) / compute:+.1%} of compute")
    print(f"{f'{args.singles} single-minute runs':52} {sum(singles):8.1f} s   "
          f"{results['singles_vs_ranged_same_minutes']:.2f}x the ranged run's time for as many minutes; "
          f"Dagster ~{results['dagster_s_per_single_run']:.2f} s per run in process")
    print(f"{'2 cameras x ranged run, 2 processes':52} {parallel:8.1f} s   "
          f"{results['camera_minutes_per_wall_minute']:.1f} camera-minutes per wall-minute")
    return results


if __name__ == "__main__":
    main()
