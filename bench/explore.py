"""`roz explore` at history scale: server time of each page and question for one camera with 90 days of minutes and 2
years of rollups, against a static file served by the same app in the same run.

    python bench/explore.py [--days 90] [--rollup-days 730] [--cameras 1000] [--repeat 9] [--json OUT]

Builds a fresh database `roz_bench_explore` (DATABASE_URL's server, else the embedded PostgreSQL under bench/out/roz)
with `days x 1440` minutes of one 1080p camera at factor 4 (bench/regions.py's trails, with its named region's
series and the minutes' cells) and `rollup-days` of hour and day rollups, and a whole day of `cameras` others for
the cameras page of a large site; serves the explorer with uvicorn on this
machine and times each request as a browser would send it (keep-alive, its own connection): p50 and p95 in ms, and
the ratio of the p95 to the static file's (the HTTP floor). Each picture twice: drawn (an explorer keeping none) and
kept (drawn once, then served while its rows are unchanged). Target: every p95 <= 300 ms.
"""

import argparse
import http.client
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
import uvicorn
from common import OUT, fresh_database, server_url, timings
from queries import walker_map
from regions import DOOR, GRID, load

from roz_pipeline.clips.access import Clips
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.core.statistics import statistics_of
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, STEPS, floor
from roz_pipeline.explore.app import Explorer, create_app
from roz_pipeline.registry import Camera
from roz_pipeline.settings import migrations_dir
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.storage.partitions import ensure_partitions_between

DATABASE = "roz_bench_explore"
TARGET_MS = 300


def load_rollups(url: str, camera_id: str, days: int, end) -> None:
    """`days` of hour and day rollups up to `end` (every ended hour and day, as the rollup sensor leaves them; a few
    distinct sums, encoded once and written with COPY)."""
    rng = np.random.default_rng(5)
    hours = [walker_map(rng) * 60 for _ in range(24)]
    grains = {"hour": [(h, 60) for h in hours], "day": [(sum(hours), 1440)]}
    encoded = {grain: [(encode_intensity(heatmap), minutes, statistics_of(heatmap)) for heatmap, minutes in sums]
               for grain, sums in grains.items()}
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        with cursor.copy("COPY heatmap_rollups (camera_id, grain, period_start, height, width, downscale_factor, "
                         "intensity_array, minutes_covered, frame_count, total_intensity, max_intensity, "
                         "nonzero_pixels) FROM STDIN") as copy:
            for day in range(days + 1):
                start = floor(end, DAY) - DAY * (days - day)
                periods = [("hour", start + HOUR * hour, hour) for hour in range(24)] + [("day", start, 0)]
                for grain, period_start, index in periods:
                    if period_start + STEPS[grain] <= end:
                        blob, minutes, stats = encoded[grain][index]
                        copy.write_row((camera_id, grain, period_start, 270, 480, 4, blob, minutes, 900 * minutes,
                                        stats.total_intensity, stats.max_intensity, stats.nonzero_pixels))
        conn.execute("VACUUM ANALYZE heatmap_rollups")


def load_day_of_cameras(url: str, cameras: int, day) -> list[str]:
    """`cameras` more cameras with the minutes of `day` as the pipeline leaves them (a row and its sources per
    minute, every 97th minute missing, every 7th partly covered): what the cameras page reads for a whole day."""
    heatmap = np.zeros((27, 48), np.float32)
    heatmap[3:6, 4:9] = 2
    blob, stats = encode_intensity(heatmap), statistics_of(heatmap)
    camera_ids = [f"site-{i:04d}" for i in range(cameras)]
    minutes = [day + timedelta(minutes=i) for i in range(1440)]
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        ensure_partitions_between(conn, minutes[0], minutes[-1])
        with cursor.copy('COPY heatmap_minutes (camera_id, "timestamp", video_path, height, width, downscale_factor, '
                         "intensity_array, frame_count, total_intensity, max_intensity, nonzero_pixels) "
                         "FROM STDIN") as copy:
            for number, camera_id in enumerate(camera_ids):
                for i, minute in enumerate(minutes):
                    if (i + number) % 97:
                        copy.write_row((camera_id, minute, "x.mp4", 27, 48, 40, blob, 150, stats.total_intensity,
                                        stats.max_intensity, stats.nonzero_pixels))
        with cursor.copy('COPY heatmap_minute_sources (camera_id, "timestamp", clip_keys, covered_seconds, '
                         "inputs_fingerprint, listed_at) FROM STDIN") as copy:
            for number, camera_id in enumerate(camera_ids):
                for i, minute in enumerate(minutes):
                    if (i + number) % 97:
                        copy.write_row((camera_id, minute, ["x.mp4"], 30 if i % 7 == 0 else 60, "f", minute))
        conn.execute("VACUUM ANALYZE heatmap_minutes")
        conn.execute("VACUUM ANALYZE heatmap_minute_sources")
    return camera_ids


def serve(app) -> tuple[uvicorn.Server, int]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, server.servers[0].sockets[0].getsockname()[1]


def timed(port: int, path: str, repeat: int, accept: str = "*/*") -> dict:
    """p50/p95 ms of GET `path` on one keep-alive connection (after a warm-up request), each answer checked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get() -> None:
        connection.request("GET", path, headers={"Accept": accept})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")

    try:
        return timings(get, repeat)
    finally:
        connection.close()


def requests(end: datetime, days: int) -> tuple[dict, dict, dict]:
    """(pages, pictures, questions): name -> path of what a browser asks of the explorer, over periods up to
    `end`."""
    day_ago, week_ago, history = end - DAY, end - 7 * DAY, end - days * DAY
    span = lambda start: f"from={start:%Y-%m-%dT%H:%M}&to={end:%Y-%m-%dT%H:%M}"  # noqa: E731
    base, grid = "/cameras/cam-00", ",".join(map(str, GRID))
    pages = {
        "static file (floor)": "/static/explore.css",
        "cameras page": "/",
        "camera page": f"{base}?{span(week_ago)}",
    }
    pictures = {
        "heatmap, last hour": f"{base}/heatmap.png?{span(end - HOUR)}",
        "heatmap, last day": f"{base}/heatmap.png?{span(day_ago)}",
        "heatmap, last 7 days": f"{base}/heatmap.png?{span(week_ago)}",
        f"heatmap, {days} days": f"{base}/heatmap.png?{span(history)}",
        "activity per hour": f"{base}/activity.png?{span(day_ago)}",
        "weekday x hour": f"{base}/week.png?{span(week_ago)}",
        "compare a day with the one before": f"{base}/compare.png?{span(day_ago)}"
                                             f"&baseline_from={day_ago - DAY:%Y-%m-%dT%H:%M}"
                                             f"&baseline_to={day_ago:%Y-%m-%dT%H:%M}",
    }
    questions = {
        "when, named region, 7 days": f"{base}/when?region=door&{span(week_ago)}",
        f"when, named region, {days} days": f"{base}/when?region=door&{span(history)}",
        "when, drawn on the grid, last hour": f"{base}/when?region={grid}&{span(end - HOUR)}",
        "when, drawn on the grid, last day": f"{base}/when?region={grid}&{span(day_ago)}",
        "when, drawn on the grid, 7 days": f"{base}/when?region={grid}&{span(week_ago)}",
        f"when, drawn on the grid, {days} days": f"{base}/when?region={grid}&{span(history)}",
        "when, off the grid (arrays), last hour": f"{base}/when?region=400,200,1000,700&{span(end - HOUR)}",
    }
    return pages, pictures, questions


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rollup-days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--cameras", type=int, default=1000, help="cameras on the cameras page, a whole day each")
    parser.add_argument("--json", type=Path, default=OUT / "explore.json")
    args = parser.parse_args(argv)
    url = fresh_database(server_url(), DATABASE)
    Migrator(url, migrations_dir()).migrate()
    camera = Camera("cam-00", regions={"door": DOOR})
    end = floor(datetime.now(timezone.utc), HOUR)
    started = time.perf_counter()
    load(url, camera, args.days, end)
    load_rollups(url, camera.camera_id, args.rollup_days, end)
    whole_day = floor(end, DAY) - DAY
    site = {c: Camera(c) for c in load_day_of_cameras(url, args.cameras, whole_day)}
    load_s = time.perf_counter() - started

    clips = Clips(LocalClipStore(OUT / "explore-clips"), ClipLayout.from_setting("roz"), 6, timedelta(days=7))
    cameras = {camera.camera_id: camera}
    kept, port = serve(create_app(Explorer(url, cameras, clips, clock=lambda: end)))
    drawing, drawing_port = serve(create_app(Explorer(url, cameras, clips, clock=lambda: end, pictures_kept=0)))
    many, many_port = serve(create_app(Explorer(url, site, clips, clock=lambda: whole_day + DAY - MINUTE)))
    pages, pictures, questions = requests(end, args.days)
    try:
        measured = {name: timed(port, path, args.repeat) for name, path in pages.items()}
        measured[f"cameras page, {args.cameras:,} cameras, a whole day"] = timed(many_port, "/", args.repeat)
        measured |= {f"{name} (drawn)": timed(drawing_port, path, args.repeat) for name, path in pictures.items()}
        measured |= {f"{name} (kept)": timed(port, path, args.repeat) for name, path in pictures.items()}
        measured |= {name: timed(port, path, args.repeat, "application/json") for name, path in questions.items()}
    finally:
        kept.should_exit = drawing.should_exit = many.should_exit = True
    floor_ms = measured["static file (floor)"]["p95_ms"]
    for name, t in measured.items():
        t["vs_static_p95"] = round(t["p95_ms"] / floor_ms, 1)
    results = {"minutes": args.days * 1440, "cameras": args.cameras, "rollup_days": args.rollup_days,
               "load_s": round(load_s, 1),
               "requests": measured, "worst_p95_ms": max(t["p95_ms"] for t in measured.values()),
               "target_p95_ms": TARGET_MS}
    print(f"one camera, {args.days} days of minutes, {args.rollup_days} days of rollups (loaded in {load_s:.0f} s)")
    print(f"{'request':48} {'p50 ms':>8} {'p95 ms':>8} {'p95 / static':>13}")
    for name, t in measured.items():
        print(f"{name:48} {t['p50_ms']:8.1f} {t['p95_ms']:8.1f} {t['vs_static_p95']:12.1f}x")
    print(f"worst p95 {results['worst_p95_ms']} ms (target <= {TARGET_MS} ms)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
