"""new_clips_sensor's tick over the clip inventory: its cost follows what changed in the store, not its history.

    python bench/ingest.py [--quick] [--cameras 10] [--days 7] [--ticks 10] [--baseline-ticks 3]
                           [--scale-cameras 1000] [--scale-hours 2] [--scale-seconds 300] [--s3-rate 5]
                           [--work DIR] [--json OUT]

Frigate's layout (`%Y-%m-%d/%H/{camera}/%M.%S.mp4`), one 10 s segment per camera every 10 s, as empty placeholder
files whose mtime is the segment's end (the scan never opens a clip). Every database is fresh
(`roz_bench_ingest_*` on DATABASE_URL's server, else the embedded PostgreSQL under bench/out/roz), and gets the
VACUUM ANALYZE autovacuum would run soon after each bulk change (the history taken in, then marked read); S3 and
SQS are moto's server in this process. The clock is simulated (it moves as the ticks say) and is also the
discoveries' wall clock. Late window 7 days, reconciliation every 6 hours, at most 50 runs a tick (the defaults).

1. History independence (--cameras, --days; --quick: 3 cameras, 1 day): the median steady-state tick of
   `scan_new_clips` with `days` of history vs 1 hour. Per history: build it, a first tick takes it in, everything
   is marked read (as runs would), then --ticks ticks, each after one new segment per camera landed (the clock
   moves 10 s a tick; the new segments are marked read after each tick, as the run following the hour would).
   Local folder (FolderDiscovery), with the baseline of the old listing design in the same run on the same folder
   (--baseline-ticks ticks): list and parse the late window (ClipCatalog.clips_starting) and fingerprint every
   camera-hour, kept linear (without the old quadratic clip-end estimate). Then S3 with SQS event notifications
   (EventDiscovery): the history goes into the inventory directly (rows, marked read), only the new segments into
   the bucket.
2. Scale (--scale-cameras, --scale-hours, --scale-seconds; --quick: 50 cameras, 30 s): the history, a first tick,
   ticks at the same clock while no run has read the backlog (the cursor's largest), everything marked read, then
   live pace (a segment per camera every 10 s: 100 segments/s at 1,000 cameras) for 5 minutes across an hour's
   end, a tick every 30 s (the sensor's interval) after its segments landed, each camera's in time order. Tick
   p50/p95, cursor size, DiscoveryCounts per tick; then a tick whose reconciliation falls on the history.
   Then S3 + SQS events with the history in the inventory only, at --s3-rate segments/s put (moto's SQS receive
   slows with every message queued: 5/s by default), every S3 and SQS request counted by operation (a botocore
   hook).

Prints what was measured and the ratios; asserts nothing about time.
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from common import OUT
from ingest_history import part_history
from ingest_s3 import Moto
from ingest_scale import part_scale
from ingest_world import DATABASE, SEGMENT, Databases
from psycopg.conninfo import conninfo_to_dict


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (3 cameras x 1 day; 50 cameras x 30 s): checks the bench, not the numbers")
    parser.add_argument("--cameras", type=int, help="part 1's cameras (default 10, --quick 3)")
    parser.add_argument("--days", type=float, help="part 1's long history in days (default 7, --quick 1)")
    parser.add_argument("--ticks", type=int, default=10, help="part 1's steady-state ticks per history")
    parser.add_argument("--baseline-ticks", type=int, default=3, help="part 1's ticks of the old design per history")
    parser.add_argument("--scale-cameras", type=int, help="part 2's cameras (default 1000, --quick 50)")
    parser.add_argument("--scale-hours", type=float, default=2, help="part 2's history in hours")
    parser.add_argument("--scale-seconds", type=float, help="part 2's live seconds (default 300, --quick 30)")
    parser.add_argument("--s3-rate", type=float, help="part 2's segments/s put to S3 (default: live pace, at most 5)")
    parser.add_argument("--work", type=Path, default=OUT / "ingest", help="where the placeholder files go (removed)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    camera_count = args.cameras or (3 if args.quick else 10)
    days = args.days or (1 if args.quick else 7)
    scale_cameras = args.scale_cameras or (50 if args.quick else 1000)
    scale_seconds = args.scale_seconds or (30 if args.quick else 300)
    s3_rate = args.s3_rate or min(5.0, scale_cameras / SEGMENT.total_seconds())
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    started = time.perf_counter()
    databases, moto = Databases(), Moto()
    try:
        results = {"history": part_history(databases, moto, args.work, camera_count, days, args.ticks,
                                           args.baseline_ticks),
                   "scale": part_scale(databases, moto, args.work, scale_cameras, args.scale_hours, scale_seconds,
                                       s3_rate)}
    finally:
        moto.close()
        databases.close()
        shutil.rmtree(args.work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started)
    server = conninfo_to_dict(databases.server)
    print(f"\n{results['seconds']} s in all; PostgreSQL at {server.get('host', '?')}:{server.get('port', 5432)}; "
          f"databases {DATABASE}_* dropped, placeholder files removed")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
