"""Every Roz benchmark in one run: a summary table against the targets, and all results as JSON.

    python bench/run.py [--quick] [--only NAME ...] [--json bench/out/results.json]

Needs the bench extra (`pip install -e '.[bench]'`: imageio-ffmpeg for the FFmpeg baseline), Debian's opencv-doc
for real footage, and RabbitMQ + Redis on 127.0.0.1 for the Celery scale-out. Each part measures its own baseline
in the same run:

  extract     our extraction vs `ffmpeg -threads 1 -f null` decode-only of the same 1080p15 clip; bytes and
              encoder CPU per row on real footage vs the stdlib's zlib; `decode: gated` vs the full decode on
              a day of footage built from a real recording                       (bench/extract.py, bench/gated.py)
  pipeline    a 60-minute ranged run vs compute alone vs 60 single-minute runs; 2 cameras in 2 processes
                                                                                                (bench/pipeline.py)
  queries     the seed's four queries at 10 cameras x 90 days (1.3M rows); the 2pm pattern minute by minute vs
              from the hour rollups                                                              (bench/queries.py)
  partitions  the UI's partition-status GraphQL query at 90 days of partitions with 100 gaps, minute vs hour grain
                                                                                              (bench/partitions.py)
  scale_out   Celery workers: 1 vs 2 worker processes, camera-minutes per wall-minute          (bench/scale_out.py)
  recorders   one minute from six Frigate 10 s segments vs ffmpeg decode-only; the same from S3 with 50 ms per
              request vs local; an hour-long file from S3: peak RSS, downloads, temporary files (bench/recorders.py)
  live        10 cameras' segments landing at live pace through the real daemon: latency to rows, CPU outside
              extraction, runs and memory per camera                                               (bench/live.py)
  regions     `roz when` over 7 days of one camera: a named region's series vs summing every array
                                                                                                 (bench/regions.py)
  ingest      new_clips_sensor's tick over the clip inventory with 7 days of Frigate history vs 1 hour (local folder,
              S3 + SQS events), vs the old listing design; 1,000 cameras at live pace: tick p50/p95, cursor bytes,
              S3 and SQS requests per camera-hour                                                 (bench/ingest.py)
  rollups     rollup_automation_sensor's tick vs the declarative automation it replaced, at 100 and 1,000 cameras
                                                                                                 (bench/rollups.py)
  control_plane  1,000 cameras, no footage arriving, the real daemon: every sensor's tick p50/p95, CPU and RSS of the
              daemon and the code server, log lines per camera-hour, the UI's GraphQL queries (bench/control_plane.py)
  explore     `roz explore` for one camera with 90 days of minutes and 2 years of rollups, and the cameras page of
              1,000 cameras' whole day: each page's, picture's and question's server time p50/p95, against a static
              file                                                                               (bench/explore.py)
  storage     a night of maintenance (retention, the inventory's pruning, VACUUM ANALYZE) at 7, 30, 90 days kept, on
              the tables as they were (plain) and partitioned by day: seconds and WAL per step, table sizes night
              after night, seconds against days kept, partitioned / plain                      (bench/storage.py)
  follow_boundary  the hour boundary at 1,000 cameras, the real daemon: follow_cameras_sensor's tick submitting the
              hour's following runs one at a time vs as deploy/dagster.yaml ships (8 at a time)
                                                                                          (bench/follow_boundary.py)

--quick shrinks every part (fewer repeats, minutes and days) to check the suite works in a few minutes; its
numbers are not the ones to report.
"""

import argparse
import importlib
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent  # the parts are scripts of this folder: importlib finds them here

PARTS = {  # name: (full arguments, --quick arguments)
    "extract": ([], ["--repeats", "1", "--gated-day-minutes", "3"]),
    "pipeline": ([], ["--minutes", "5", "--singles", "5"]),
    "queries": ([], ["--days", "7", "--repeat", "5"]),
    "partitions": ([], ["--days", "3", "--gaps", "20", "--repeat", "2"]),
    "scale_out": ([], ["--minutes", "3"]),
    "recorders": ([], ["--repeats", "1", "--long-minutes", "3"]),
    "live": ([], ["--cameras", "2", "--minutes", "3", "--drain", "60"]),
    "regions": ([], ["--days", "1", "--repeat", "3"]),
    "ingest": ([], ["--quick"]),
    "rollups": ([], ["--quick"]),
    "control_plane": ([], ["--quick"]),
    "explore": ([], ["--days", "1", "--rollup-days", "14", "--cameras", "100", "--repeat", "3"]),
    "storage": ([], ["--quick"]),
    "follow_boundary": ([], ["--quick"]),
}


def _extract_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    ratios = results["extract"]["ratios"]
    rows += [("extraction CPU / ffmpeg decode-only, 1 thread", f"{ratios['roz 1 thread / ffmpeg 1 thread (cpu)']:.2f}",
              "<= 1.05"),
             ("--fast CPU / ffmpeg decode-only, 1 thread", f"{ratios['roz --fast / ffmpeg 1 thread (cpu)']:.2f}",
              "<= 0.90"),
             ("2 clips in 2 processes vs 1",
              f"{ratios['2 clips in 2 processes vs 1 clip in 1 process (throughput)']:.2f}x", "")]
    for key, real in results["extract"]["real_footage"].items():
        ours = list(real["encoders"].values())[-1]
        rows += [(f"median row, {key}", f"{ours['median_bytes'] / 1000:.1f} KB", "<= 25 KB at 270x480-equivalent"),
                 ("... Roz's encoder bytes / the stdlib's", f"{real['roz bytes / stdlib bytes']:.3f}", "<= 0.85"),
                 ("... Roz's encoder CPU / the row's extraction CPU",
                  f"{real['roz encoder cpu / extraction cpu']:.1%}", "<= 5%")]
    for name, g in results["extract"].get("gated", {}).items():
        target = "<= 0.3" if name.startswith("day (") else "<= 0.05" if "still" in name else "<= 1.05"
        rows.append((f"gated / full decode CPU, {name}", f"{g['cpu_ratio']:.3f} ({g['frames_decoded_share']:.1%} "
                     f"decoded{', full: ' + g['decoded_full_because'] if g['decoded_full_because'] else ''})", target))
        if g["busy_minutes"]:
            rows.append(("... intensity found / busy-minute correlation (min) / misses",
                         f"{g['intensity_share_found']:.2%} / {g['busy_minute_correlation_min']:.4f} / "
                         f"{len(g['misses'])}", ">= 99% / >= 0.99 / 0"))
    return rows


def _pipeline_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    p = results["pipeline"]
    rows += [("ranged run overhead over compute", f"{p['ranged_overhead_fraction']:+.1%}", "<= 5%"),
             (f"{p['single_runs']} single-minute runs vs the ranged run", f"{p['singles_vs_ranged_same_minutes']:.2f}x",
              ""),
             ("end to end, 2 processes", f"{p['camera_minutes_per_wall_minute']} camera-min/wall-min", ">= 16")]
    return rows


def _queries_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    q = results["queries"]
    rows += [(f"seed query {name} p50", f"{t['p50_ms']:.1f} ms", "<= 50 ms") for name, t in q["seed_queries"].items()]
    rows += [(f"roz: {name} p50", f"{t['p50_ms']:.1f} ms", "") for name, t in q["roz_queries"].items()]
    rows += [("2pm pattern x 7 days from rollups p50", f"{q['pattern']['from_rollups']['p50_ms']:.1f} ms", "< 200 ms"),
             ("... minute by minute p50", f"{q['pattern']['minute_by_minute']['p50_ms']:.1f} ms", "")]
    return rows


def _partitions_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    for grain, r in results["partitions"].items():
        rows.append((f"partition status, {grain} grain, {r['partitions']:,} partitions, {r['gaps']} gaps",
                     f"{r['status_warm_p50_s']:.3f} s warm, {r['status_cold_s']:.1f} s cold", "<= 1 s"))
    return rows


def _scale_out_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    runs = results["scale_out"]["runs"]
    base = runs[0]["camera_minutes_per_wall_minute"]
    rows += [(f"Celery, {r['workers']} worker(s)", f"{r['camera_minutes_per_wall_minute']} camera-min/wall-min, "
              f"{r['camera_minutes_per_wall_minute'] / base:.2f}x", ">= 1.75x for 2" if r["workers"] == 2 else "")
             for r in runs]
    return rows


def _recorders_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    r = results["recorders"]
    long = r["long_file"]
    rows += [("one minute from six 10 s segments, CPU / ffmpeg decode-only", f"{r['six_segments']['ratio']:.2f}",
              "<= 1.10"),
             ("the same from S3 at 50 ms per request, wall / local", f"{r['s3_latency']['ratio']:.2f}", "<= 1.3"),
             (f"{long['minutes']}-minute file from S3: peak RSS", f"{long['peak_rss_mb']} MB, downloaded "
              f"{long['times_downloaded']}x, {long['temporary_files_left']} temp files left", "<= 500 MB")]
    return rows


def _live_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    r = results["live"]
    rows += [("live: latency, last segment landed -> row, p50 / p95",
              f"{r['latency_p50_s']} s / {r['latency_p95_s']} s", "<= 120 s"),
             ("live: CPU outside extraction / extraction, steady", f"{r['steady_outside_extraction_fraction']:.0%}",
              "<= 15%"),
             ("live: peak RSS per camera", f"{r['peak_rss_per_camera_mb']} MB", "<= 300 MB")]
    return rows


def _regions_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    r = results["regions"]
    rows += [(f"roz when, one region over {r['minutes']:,} minutes: series p50", f"{r['series']['p50_ms']} ms",
              "<= 300 ms"),
             ("... a rectangle on the cell grid (the minutes' cells) p50", f"{r['cells']['p50_ms']} ms",
              "<= 300 ms"),
             ("... every array summed instead (same answer) p50",
              f"{r['arrays']['p50_ms']} ms ({r['arrays_vs_series']}x)", "")]
    return rows


def _ingest_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    history, scale = results["ingest"]["history"], results["ingest"]["scale"]
    rows += [("new_clips_sensor tick, long history / 1 hour, local folder", f"{history['local_ratio']:.2f}",
              "<= 1.5"),
             ("... S3 + SQS events", f"{history['s3_ratio']:.2f}", "<= 1.5"),
             ("... the old listing design (baseline)", f"{history['baseline_ratio']:.2f}", ""),
             (f"{scale['local']['cameras']:,} cameras at live pace, local: tick p50 / p95",
              f"{scale['local']['p50_s']:.2f} s / {scale['local']['p95_s']:.2f} s", "p95 <= 5 s"),
             ("... cursor at steady state / with a backlog asked for",
              f"{scale['local']['cursor_bytes_max']:,} B / {scale['local']['backlog_cursor_bytes']:,} B",
              "<= 64 KB"),
             ("... S3 + SQS events: tick p95; LIST and SQS requests per camera-hour",
              f"{scale['s3_events']['p95_s']:.2f} s; {scale['s3_events']['list_per_camera_hour']:.3f}, "
              f"{scale['s3_events']['sqs_per_camera_hour_live_pace']:.1f}", "")]
    return rows


def _rollups_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    rows += [(f"rollup requests, {r['cameras']:,} cameras: sensor / declarative automation tick",
              f"{r['sensor_tick_s']:.3f} s / {r['declarative_tick_s']:.2f} s", "<= 5 s")
             for r in results["rollups"]["sizes"]]
    return rows


def _explore_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    r = results["explore"]
    worst = max((t["p95_ms"], name) for name, t in r["requests"].items())
    rows += [(f"roz explore, {r['minutes']:,} minutes + {r['rollup_days']} days of rollups, {r['cameras']:,} "
              "cameras: slowest p95", f"{worst[0]} ms ({worst[1]})", f"<= {r['target_p95_ms']} ms")]
    return rows


def _control_plane_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    r = results["control_plane"]
    worst = max((t["p95_s"] or 0.0, name) for name, t in r["sensor_ticks"].items())
    rows += [(f"control plane, {r['cameras']:,} cameras idle: slowest sensor tick p95",
              f"{worst[0]:.2f} s ({worst[1]})", "<= 5 s"),
             ("... daemon + code server CPU, share of one core", f"{r['idle_cpu_share']:.1%}", "<= 10%"),
             ("... log lines at INFO or above per camera-hour", f"{r['loud_lines_per_camera_hour']:.2f}", "<= 2"),
             ("... slowest UI GraphQL query", f"{max(r['ui_query_s'].values()):.2f} s "
              f"({max(r['ui_query_s'], key=r['ui_query_s'].get)})", "<= 1 s")]
    return rows


def _storage_rows(results: dict) -> list[tuple[str, str, str]]:
    r, rows = results["storage"], []
    for layout, result in r["layouts"].items():
        nights = {days: h["nights"][-1]["steps"]["night"] for days, h in result["histories"].items()}
        rows += [(f"a night at {days} days kept, {r['cameras']} cameras, {layout}: seconds, WAL",
                  f"{n['s']:.2f} s, {n['wal_mb']:.0f} MB", "") for days, n in nights.items()]
        if "fit" in result:
            rows.append((f"... {layout}: a night's seconds, slope per day kept / intercept",
                         f"{result['fit']['slope_share_of_intercept_per_day']:.1%}", "<= 1%"))
    rows += [(f"... partitioned / plain at {days} days kept: seconds, WAL", f"{q['s']:.2f}x, {q['wal_mb']:.2f}x",
              "WAL <= 0.10x") for days, q in r["ratios"].items()]
    return rows


def _follow_boundary_rows(results: dict) -> list[tuple[str, str, str]]:
    r = results["follow_boundary"]
    one, shipped = (r["configs"][name]["median_s"] for name in ("one at a time", "as shipped"))
    return [(f"hour boundary, {r['cameras']:,} cameras: submitting tick one at a time / as shipped",
             f"{one:.1f} s / {shipped:.1f} s", "<= 30 s"),
            ("... as shipped / one at a time (the same runs)",
             f"{r['ratio_as_shipped_to_one_at_a_time']:.2f} ({r['same_runs']})", "")]


ROWS = {  # each part's rows of the summary, in its order
    "extract": _extract_rows,
    "pipeline": _pipeline_rows,
    "queries": _queries_rows,
    "partitions": _partitions_rows,
    "scale_out": _scale_out_rows,
    "recorders": _recorders_rows,
    "live": _live_rows,
    "regions": _regions_rows,
    "ingest": _ingest_rows,
    "rollups": _rollups_rows,
    "explore": _explore_rows,
    "control_plane": _control_plane_rows,
    "storage": _storage_rows,
    "follow_boundary": _follow_boundary_rows,
}


def summary(results: dict) -> list[tuple[str, str, str]]:
    """(measure, value, target) rows for the parts that ran."""
    return [row for name, rows in ROWS.items() if name in results for row in rows(results)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the suite, not the numbers")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--json", type=Path, default=BENCH / "out" / "results.json")
    args = parser.parse_args()
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": platform.python_version(), "platform": platform.platform(),
                           "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "quick": args.quick}}
    for name in args.only:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        full, quick = PARTS[name]
        results[name] = importlib.import_module(name).main(quick if args.quick else full)
        results["machine"][f"{name}_seconds"] = round(time.perf_counter() - started)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\n{'measure':64} {'value':>36}  target")
    for measure, value, target in summary(results):
        print(f"{measure:64} {value:>36}  {target}")
    print(f"\nall results: {args.json}")


if __name__ == "__main__":
    main()
