"""The seed's four queries at scale, and the hour-of-day pattern from rollups vs minute by minute, in one run.

    python bench/queries.py [--cameras 10] [--days 90] [--repeat 30] [--json OUT]

Builds a fresh database `roz_bench_queries` (on DATABASE_URL's server, else the embedded PostgreSQL under
bench/out/roz) with `cameras x days x 1440` minute rows ending now: small 9x16 arrays everywhere (enough for the
metadata queries) except camera cam-00's 14:00-14:59 minutes of the last 8 days, which hold real-size 270x480
arrays (walker trails, ~20 KB compressed each) for the pattern. Those hours are rolled up as the pipeline would.
Prints p50/p95 per query and the pattern's two ways with their ratio.
"""

import argparse
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
from common import fresh_database, server_url, timings

from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.settings import migrations_dir
from roz_pipeline.storage.maintenance import vacuum_analyze
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.storage.minutes import newest_minutes
from roz_pipeline.storage.partitions import ensure_partitions_between, partitions_of
from roz_pipeline.storage.seed_queries import hour_of_day_minutes, table_size
from roz_pipeline.usecases.insight import hour_of_day_pattern
from roz_pipeline.usecases.rollups import roll_up_hour

DATABASE = "roz_bench_queries"
PATTERN_CAMERA, PATTERN_HOUR, PATTERN_DAYS = "cam-00", 14, 7

# The seed's queries (db/README.md), for one camera where they name one.
SEED_QUERIES = {
    "1 last hour of one camera": """
        SELECT intensity_array, height, width FROM heatmap_minutes
        WHERE camera_id = %(camera)s AND timestamp >= NOW() - INTERVAL '1 hour' ORDER BY timestamp""",
    "2 busiest hours today": """
        SELECT DATE_TRUNC('hour', timestamp) as hour, SUM(total_intensity) as activity FROM heatmap_minutes
        WHERE camera_id = %(camera)s AND timestamp >= DATE_TRUNC('day', NOW()) GROUP BY hour ORDER BY activity DESC""",
    "3 2pm over the last 7 days (arrays)": """
        SELECT intensity_array, height, width FROM heatmap_minutes
        WHERE camera_id = %(camera)s AND EXTRACT(HOUR FROM timestamp) = 14
          AND timestamp >= NOW() - INTERVAL '7 days'""",
    "4 freshness of every camera": """
        SELECT camera_id, MAX(timestamp) as last_data, NOW() - MAX(timestamp) as age, COUNT(*) as total_minutes
        FROM heatmap_minutes GROUP BY camera_id""",
}


def walker_map(rng: np.random.Generator) -> np.ndarray:
    """A 270x480 minute of people crossing: a few trails of counts, zero elsewhere."""
    heatmap = np.zeros((270, 480), np.float32)
    for _ in range(rng.integers(1, 5)):
        y = int(rng.integers(60, 230))
        thickness, length = int(rng.integers(12, 30)), int(rng.integers(150, 480))
        x0 = int(rng.integers(0, 480 - length + 1))
        heatmap[y:y + thickness, x0:x0 + length] += rng.integers(1, 40, (thickness, length)).astype(np.float32)
    return heatmap


def load(url: str, cameras: int, days: int, now: datetime) -> dict:
    """The minute rows (SQL generate_series), the pattern camera's real-size hours, and their rollups."""
    small = np.zeros((9, 16), np.float32)
    small[3:5, 4:9] = 7
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        if partitions_of(conn, "heatmap_minutes"):  # not on the plain tables (ROZ_MIGRATIONS_DIR up to 010)
            ensure_partitions_between(conn, now - timedelta(days=days), now)
        conn.execute(
            """
            INSERT INTO heatmap_minutes (camera_id, "timestamp", video_path, height, width, downscale_factor,
                intensity_array, frame_count, total_intensity, max_intensity, nonzero_pixels)
            SELECT 'cam-' || lpad(c::text, 2, '0'), m, 'cam/' || m::text || '.mp4', 9, 16, 4, %s, 900,
                   (random() * 5000)::real, 7, 10
            FROM generate_series(0, %s - 1) AS c,
                 generate_series(%s::timestamptz - make_interval(days => %s), %s::timestamptz - interval '1 minute',
                                 interval '1 minute') AS m
            """,
            (encode_intensity(small), cameras, now, days, now),
        )
        rng = np.random.default_rng(0)
        pool = [encode_intensity(walker_map(rng)) for _ in range(24)]
        hours = [(now - timedelta(days=d)).replace(hour=PATTERN_HOUR, minute=0) for d in range(PATTERN_DAYS + 1)]
        hours = [h for h in hours if h < now]
        with conn.cursor() as cursor:
            cursor.executemany(
                'UPDATE heatmap_minutes SET height = 270, width = 480, intensity_array = %s '
                'WHERE camera_id = %s AND "timestamp" = %s',
                [(pool[(i * 7 + m) % len(pool)], PATTERN_CAMERA, h + timedelta(minutes=m))
                 for i, h in enumerate(hours) for m in range(60) if h + timedelta(minutes=m) < now],
            )
        for hour in hours:
            roll_up_hour(conn, PATTERN_CAMERA, hour, now - timedelta(days=days))
        vacuum_analyze(conn)  # as the nightly job leaves the statistics: the partitions', not the parents'
        size, rows = table_size(conn)
        blob = conn.execute("SELECT avg(length(intensity_array)) FROM heatmap_minutes WHERE height = 270").fetchone()[0]
    return {"rows": rows, "table_bytes": size, "load_s": round(time.perf_counter() - started, 1),
            "real_size_rows_mean_bytes": round(float(blob))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    # On an hour's start: the seed's pattern query counts minutes since now - days, the rollups whole hours, and the
    # two agree only when no hour is cut (run inside the pattern hour, they did not).
    now = floor(datetime.now(timezone.utc), HOUR)
    url = fresh_database(server_url(), DATABASE)
    Migrator(url, migrations_dir()).migrate()
    data = load(url, args.cameras, args.days, now)
    print(f"{data['rows']:,} rows ({args.cameras} cameras x {args.days} days), "
          f"{data['table_bytes'] / 1e6:.0f} MB, loaded in {data['load_s']} s; "
          f"real-size rows {data['real_size_rows_mean_bytes'] / 1000:.1f} KB")

    results = {"data": data, "seed_queries": {}, "roz_queries": {}, "pattern": {}}
    with psycopg.connect(url) as conn:
        for name, query in SEED_QUERIES.items():
            results["seed_queries"][name] = timings(
                lambda: conn.execute(query, {"camera": PATTERN_CAMERA}).fetchall(), args.repeat)

        cameras = [f"cam-{i:02d}" for i in range(args.cameras)]
        results["roz_queries"]["newest minute of every camera (stale sensor)"] = timings(
            lambda: newest_minutes(conn, cameras), args.repeat)

        def minute_by_minute():
            minutes = hour_of_day_minutes(conn, PATTERN_CAMERA, PATTERN_HOUR, PATTERN_DAYS, now)
            return np.sum([m.heatmap for m in minutes], axis=0)

        def from_rollups():
            return hour_of_day_pattern(conn, PATTERN_CAMERA, PATTERN_HOUR, PATTERN_DAYS, now).total

        np.testing.assert_array_equal(minute_by_minute(), from_rollups())  # the same answer both ways
        results["pattern"]["minute_by_minute"] = timings(minute_by_minute, max(5, args.repeat // 3))
        results["pattern"]["from_rollups"] = timings(from_rollups, args.repeat)
    pattern = results["pattern"]
    pattern["speedup"] = round(pattern["minute_by_minute"]["p50_ms"] / pattern["from_rollups"]["p50_ms"], 1)

    print(f"\n{'query':52} {'p50 ms':>9} {'p95 ms':>9}")
    for name, t in results["seed_queries"].items():
        print(f"{'seed ' + name:52} {t['p50_ms']:9.1f} {t['p95_ms']:9.1f}")
    for name, t in results["roz_queries"].items():
        print(f"{'roz ' + name:52} {t['p50_ms']:9.1f} {t['p95_ms']:9.1f}")
    for name in ("minute_by_minute", "from_rollups"):
        t = pattern[name]
        label = f"pattern {PATTERN_HOUR}:00 x {PATTERN_DAYS} days, {name.replace('_', ' ')} (decoded, summed)"
        print(f"{label:52} {t['p50_ms']:9.1f} {t['p95_ms']:9.1f}")
    print(f"rollups answer the pattern {pattern['speedup']}x faster")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
