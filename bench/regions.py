"""`roz when` over a week of one camera: the region series vs summing every stored array, in one run.

    python bench/regions.py [--days 7] [--repeat 7] [--json OUT]

Builds a fresh database `roz_bench_regions` (on DATABASE_URL's server, else the embedded PostgreSQL under
bench/out/roz) with `days x 1440` minutes of one camera at 270x480 (people-crossing trails like bench/queries.py,
~10-20 KB compressed each), with the named region's value and the cells of each (written with COPY), then times
the question three ways: the named region `door` (its stored series), a rectangle on the cell grid (the minutes'
cells, as the explorer snaps drawn rectangles) and the door's rectangle given in pixels (every minute's array
fetched, decoded and summed). Each must give the arrays' answer. Prints p50/p95 and the ratios.
"""

import argparse
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
from common import fresh_database, server_url, timings
from queries import walker_map

from roz_pipeline.core.cells import cell_sums, encode_cells
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.regions import activity_intervals, region_activity, region_box
from roz_pipeline.registry import Camera
from roz_pipeline.settings import migrations_dir
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.storage.partitions import ensure_partitions_between
from roz_pipeline.storage.regions import define_region
from roz_pipeline.usecases.regions import activity_from_arrays, when

DATABASE = "roz_bench_regions"
GRID = (320, 160, 1040, 720)  # on the cell grid (80 source pixels at factor 4): heatmap rows 40-180, columns 80-260
DOOR = (400, 200, 1000, 700)  # source pixels of a 1080p camera: heatmap rows 50-175, columns 100-250 at factor 4
DISTINCT_MAPS = 240  # generated once, then reused: compressing 10,080 fresh 270x480 maps would take minutes


def load(url: str, camera: Camera, days: int, end: datetime) -> float:
    """`days x 1440` minutes up to `end` with the named region's value and the cells of each, written with COPY
    (the rows the pipeline writes, without its per-minute transaction: 90 days load in minutes, not hours)."""
    rng = np.random.default_rng(3)
    maps = [walker_map(rng) for _ in range(DISTINCT_MAPS)]
    encoded = [encode_intensity(m) for m in maps]
    door = region_box(DOOR, 4, 270, 480)
    door_values = [region_activity(m, door) for m in maps]
    cells = [cell_sums(m) for m in maps]
    statistics = [(float(m.sum()), float(m.max()), int(np.count_nonzero(m))) for m in maps]
    minutes = [end - timedelta(minutes=days * 1440 - i) for i in range(days * 1440)]
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        define_region(conn, camera.camera_id, "door", DOOR, complete=True)
        ensure_partitions_between(conn, minutes[0], minutes[-1])
        with conn.cursor() as cursor:
            with cursor.copy("COPY heatmap_minutes (camera_id, \"timestamp\", video_path, height, width, "
                             "downscale_factor, intensity_array, frame_count, total_intensity, max_intensity, "
                             "nonzero_pixels) FROM STDIN") as copy:
                for i, minute in enumerate(minutes):
                    index = i % DISTINCT_MAPS
                    copy.write_row((camera.camera_id, minute, f"clip-{i}.mp4", 270, 480, 4, encoded[index], 900,
                                    *statistics[index]))
            with cursor.copy('COPY heatmap_region_minutes (camera_id, region, "timestamp", activity) '
                             "FROM STDIN") as copy:
                for i, minute in enumerate(minutes):
                    copy.write_row((camera.camera_id, "door", minute, door_values[i % DISTINCT_MAPS]))
            with cursor.copy('COPY heatmap_minute_cells (camera_id, "timestamp", downscale_factor, height, width, '
                             "cell_pixels, rows, cols, sums) FROM STDIN") as copy:
                for i, minute in enumerate(minutes):
                    found = cells[i % DISTINCT_MAPS]
                    copy.write_row((camera.camera_id, minute, 4, 270, 480, found.cell_pixels, *found.sums.shape,
                                    encode_cells(found.sums)))
        conn.execute("VACUUM ANALYZE heatmap_minutes")
        conn.execute("VACUUM ANALYZE heatmap_region_minutes")
        conn.execute("VACUUM ANALYZE heatmap_minute_cells")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    url = fresh_database(server_url(), DATABASE)
    Migrator(url, migrations_dir()).migrate()
    camera = Camera("cam-00", regions={"door": DOOR})
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = end - timedelta(days=args.days)
    load_s = load(url, camera, args.days, end)
    with psycopg.connect(url, autocommit=True) as conn:
        region, grid = ",".join(map(str, DOOR)), ",".join(map(str, GRID))
        fast, slow = when(conn, camera, "door", start, end), when(conn, camera, region, start, end)
        assert fast.from_series and not slow.from_series
        assert fast.intervals == slow.intervals, "the series and the arrays disagree"
        on_grid = when(conn, camera, grid, start, end)
        from_arrays = activity_intervals(activity_from_arrays(conn, camera.camera_id, GRID, start, end))
        assert on_grid.read_from == "the minute cells"
        assert [(i.start, i.end, i.peak_minute) for i in on_grid.intervals] == \
            [(i.start, i.end, i.peak_minute) for i in from_arrays], "the cells and the arrays disagree"
        series = timings(lambda: when(conn, camera, "door", start, end), args.repeat)
        cells = timings(lambda: when(conn, camera, grid, start, end), args.repeat)
        arrays = timings(lambda: when(conn, camera, region, start, end), max(2, args.repeat // 3))

    results = {"minutes": args.days * 1440, "intervals": len(fast.intervals), "load_s": round(load_s, 1),
               "series": series, "cells": cells, "arrays": arrays}
    results["arrays_vs_series"] = round(results["arrays"]["p50_ms"] / results["series"]["p50_ms"], 1)
    results["arrays_vs_cells"] = round(results["arrays"]["p50_ms"] / results["cells"]["p50_ms"], 1)
    print(f"{results['minutes']:,} minutes of one camera at 270x480, {len(fast.intervals)} interval(s) with motion "
          f"at the door (loaded in {load_s:.0f} s)")
    print(f"{'':50} {'p50 ms':>9} {'p95 ms':>9}")
    for name, key in [("roz when --region door (the region series)", "series"),
                      (f"a rectangle on the cell grid, {grid} (the cells)", "cells"),
                      ("the door's rectangle in pixels (every array)", "arrays")]:
        print(f"{name:50} {results[key]['p50_ms']:9.1f} {results[key]['p95_ms']:9.1f}")
    print(f"identical answers; the series is {results['arrays_vs_series']}x and the cells "
          f"{results['arrays_vs_cells']}x faster than the arrays")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
