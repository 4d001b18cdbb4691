"""bench/ingest.py, part 2: 1,000 cameras at live pace (local folder, S3 + SQS events)."""

import shutil
import statistics
import time
from datetime import datetime
from pathlib import Path

import psycopg
from common import percentile
from ingest_s3 import Moto, events_discovery, prefill, put_segments
from ingest_world import (
    FRIGATE,
    LATE_WINDOW,
    MAX_BACKLOG_TICKS,
    RECONCILE_HOURS,
    SEGMENT,
    SEGMENTS_PER_HOUR,
    SENSOR_INTERVAL,
    Databases,
    cameras,
    counted,
    cursor_bytes,
    delta,
    every,
    history_starts,
    lay,
    live_segments,
    quiet,
    read_all,
    read_landed,
    scan,
    start_clock,
    vacuum,
)

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.discovery import DiscoveryState, Rotation
from roz_pipeline.clips.folder_discovery import FolderDiscovery
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.new_clips import MAX_REMEMBERED_REQUESTS, NewClipsCursor

# -- 2. scale ---------------------------------------------------------------------------------------------------

def live_pace(discovery: FolderDiscovery, conn, root: Path, group: list[Camera], cursor: NewClipsCursor, clock,
              first: datetime, seconds: float) -> tuple[dict, NewClipsCursor]:
    """A tick every SENSOR_INTERVAL for `seconds`, each after the segments ended by then (from `first`) landed in
    `root` and before they are read: the ticks' times, counts and cursor sizes, and the last cursor."""
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    ticks = int(seconds // SENSOR_INTERVAL.total_seconds())
    pending = live_segments(names, first)
    waiting = next(pending)
    samples, per_tick, cursors, land_s = [], [], [], []
    for _ in range(ticks):
        clock.now += SENSOR_INTERVAL
        landed = []
        while waiting[1] + SEGMENT <= clock.now:  # every segment ended by now has landed
            landed.append(waiting)
            waiting = next(pending)
        started = time.perf_counter()
        lay(root, landed)
        land_s.append(time.perf_counter() - started)
        before = counted(discovery.counts)
        started = time.perf_counter()
        tick = scan(discovery, conn, ids, cursor, clock.now)
        samples.append(time.perf_counter() - started)
        cursor = tick.cursor
        cursors.append(cursor_bytes(cursor))
        per_tick.append({"landed": len(landed), "runs": sum(map(len, tick.read.values())),
                         **delta(counted(discovery.counts), before)})
        read_landed(discovery, conn, names, landed)
    return {"ticks": ticks, "landed": sum(t["landed"] for t in per_tick), "tick_s": samples,
            "p50_s": statistics.median(samples), "p95_s": percentile(samples, 0.95),
            "cursor_bytes_max": max(cursors), "counts_per_tick": per_tick,
            "landing_s_per_tick": statistics.median(land_s)}, cursor


def part_scale_local(databases: Databases, work: Path, group: list[Camera], hours: float, seconds: float) -> dict:
    url, root = databases.fresh("scale_local"), work / "scale-local"
    clock = start_clock(57, 35)  # the hour ends during the 5 minutes, and settles
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    history = history_starts(clock.now, hours)
    started = time.perf_counter()
    result = {"cameras": len(group), "history_hours": hours, "files": lay(root, every(names, history))}
    result["build_s"] = round(time.perf_counter() - started, 1)
    print(f"   local: {result['files']:,} placeholder files ({len(group):,} cameras x {hours:g} h) made in "
          f"{result['build_s']} s", flush=True)
    discovery = FolderDiscovery(ClipCatalog(LocalClipStore(root), FRIGATE, group), RECONCILE_HOURS, LATE_WINDOW,
                                clock)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        first = scan(discovery, conn, ids, NewClipsCursor(), clock.now)
        result.update({"first_tick_s": round(time.perf_counter() - started, 1),
                       "first_tick_taken_in": discovery.counts.changed,
                       "first_tick_runs": sum(map(len, first.read.values()))})
        vacuum(conn)
        # the backlog asked for and not read yet: the cursor remembers up to MAX_REMEMBERED_REQUESTS partitions
        cursor, backlog_s, largest = first.cursor, [], cursor_bytes(first.cursor)
        while len(cursor.requested) < MAX_REMEMBERED_REQUESTS and len(backlog_s) < MAX_BACKLOG_TICKS:
            started = time.perf_counter()
            again = scan(discovery, conn, ids, cursor, clock.now)
            backlog_s.append(time.perf_counter() - started)
            grew, cursor = len(again.cursor.requested) > len(cursor.requested), again.cursor
            largest = max(largest, cursor_bytes(cursor))
            if not grew:
                break
        result.update({"backlog_ticks": len(backlog_s), "backlog_tick_p50_s": statistics.median(backlog_s),
                       "backlog_requested": len(cursor.requested), "backlog_cursor_bytes": largest})
        started = time.perf_counter()
        result["marked_read"] = read_all(discovery, conn, ids, clock.now)
        vacuum(conn)
        result["mark_read_s"] = round(time.perf_counter() - started, 1)
        quiet(conn)
        print(f"   local: the first tick took {result['first_tick_taken_in']:,} clips in in {result['first_tick_s']} s "
              f"and asked for {result['first_tick_runs']} runs; {len(backlog_s)} more tick(s) at the same clock "
              f"(p50 {result['backlog_tick_p50_s']:.2f} s) while no run read them: {len(cursor.requested):,} "
              f"partitions asked for, cursor {largest:,} bytes (target <= 64 KB); all marked read in "
              f"{result['mark_read_s']} s", flush=True)

        live, cursor = live_pace(discovery, conn, root, group, cursor, clock, history[-1] + SEGMENT, seconds)
        result.update(live)

        # extra: a tick whose reconciliation (what 30 s earn, and one slice more) starts on the history's last full
        # hour: what reconciliation costs every tick once the late window is full of history
        hour = floor(clock.now, HOUR) - HOUR
        state = Rotation(next_hour=hour.isoformat(), credit=1.0, last_at=(clock.now - SENSOR_INTERVAL).isoformat())
        forced = NewClipsCursor(DiscoveryState(state, cursor.discovery.sweep), cursor.requested)
        before = counted(discovery.counts)
        started = time.perf_counter()
        scan(discovery, conn, ids, forced, clock.now)
        result["reconcile_tick_s"] = time.perf_counter() - started
        result["reconcile_tick_counts"] = delta(counted(discovery.counts), before)
        result["reconcile_hour"] = f"{hour:%H:%M}"
    shutil.rmtree(root)
    return result


def part_scale_s3(databases: Databases, moto: Moto, group: list[Camera], hours: float, seconds: float,
                  rate: float) -> dict:
    url, clock = databases.fresh("scale_s3"), start_clock(57, 35)
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    discovery, requests, bucket, queue = events_discovery(moto, group, clock)
    uploader = moto.client("s3")
    history = history_starts(clock.now, hours)
    per_tick_segments = round(rate * SENSOR_INTERVAL.total_seconds())
    ticks = int(seconds // SENSOR_INTERVAL.total_seconds())
    result = {"cameras": len(group), "history_hours": hours, "rate_per_s": rate,
              "segments_per_tick": per_tick_segments}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        result["rows"] = prefill(conn, discovery.store_id, names, history, clock.now)
        vacuum(conn)
        result["prefill_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cursor = scan(discovery, conn, ids, NewClipsCursor(), clock.now).cursor
        result["first_tick_s"] = round(time.perf_counter() - started, 2)
        print(f"   S3: {result['rows']:,} inventory rows upserted directly and marked read in {result['prefill_s']} s; "
              f"first tick {result['first_tick_s']} s", flush=True)
        quiet(conn)
        pending = live_segments(names, history[-1] + SEGMENT)  # below live pace, they land ever later
        samples, per_tick, put_s = [], [], []
        steady_from = requests.snapshot()
        for _ in range(ticks):
            clock.now += SENSOR_INTERVAL
            landed = [next(pending) for _ in range(per_tick_segments)]
            put_s.append(put_segments(uploader, bucket, landed))
            before, before_requests, waited = counted(discovery.counts), requests.snapshot(), requests.waited
            started = time.perf_counter()
            cursor = scan(discovery, conn, ids, cursor, clock.now).cursor
            samples.append(time.perf_counter() - started)
            per_tick.append({"put": len(landed), **delta(counted(discovery.counts), before),
                             **(requests.snapshot() - before_requests), "waiting_s": requests.waited - waited,
                             "left_in_queue": moto.queued(queue)})
            read_landed(discovery, conn, names, landed)
        steady = requests.snapshot() - steady_from
    camera_hours = len(group) * ticks * SENSOR_INTERVAL / HOUR
    messages = sum(t["messages"] for t in per_tick)
    sqs_requests = steady["ReceiveMessage"] + steady["DeleteMessageBatch"]
    prefixes_listed = sum(t["listings"] for t in per_tick)
    full_pages = prefixes_listed * -(-len(group) * SEGMENTS_PER_HOUR // 1000)  # an hour prefix, 1,000 keys a page
    result.update({
        "ticks": ticks, "tick_s": samples, "p50_s": statistics.median(samples), "p95_s": percentile(samples, 0.95),
        "put_s_per_tick": statistics.median(put_s), "counts_per_tick": per_tick, "requests": dict(steady),
        "waiting_on_moto_p50_s": statistics.median(t["waiting_s"] for t in per_tick),
        "camera_hours": camera_hours, "messages": messages, "prefixes_listed": prefixes_listed,
        "list_per_camera_hour": steady["ListObjectsV2"] / camera_hours,
        "sqs_per_camera_hour": sqs_requests / camera_hours,
        "sqs_per_message": sqs_requests / messages if messages else None,
        "sqs_per_camera_hour_live_pace": sqs_requests / messages * SEGMENTS_PER_HOUR if messages else None,
        "list_full_bucket_estimate": full_pages, "list_full_bucket_per_camera_hour": full_pages / camera_hours,
        "left_in_queue": per_tick[-1]["left_in_queue"],
    })
    return result


def part_scale(databases: Databases, moto: Moto, work: Path, camera_count: int, hours: float, seconds: float,
               s3_rate: float) -> dict:
    group = cameras(camera_count)
    live_rate = camera_count / SEGMENT.total_seconds()
    print(f"\n2. scale: {camera_count:,} cameras, {hours:g} h of history, then live pace ({live_rate:g} segments/s) "
          f"for {seconds:g} s across an hour's end, a tick every {SENSOR_INTERVAL.total_seconds():g} s", flush=True)
    local = part_scale_local(databases, work, group, hours, seconds)
    print(f"   local: {local['ticks']} ticks, {local['landed']:,} segments landed "
          f"({local['landed'] / local['ticks']:,.0f} a tick, {local['landing_s_per_tick']:.1f} s to write them): tick "
          f"p50 {local['p50_s']:.2f} s, p95 {local['p95_s']:.2f} s (target p95 <= 5 s); cursor at most "
          f"{local['cursor_bytes_max']:,} bytes (target <= 64 KB)")
    print(f"   {'tick':>6} {'landed':>7} {'tick s':>7} {'folders checked':>16} {'listings':>9} {'keys parsed':>12} "
          f"{'files stat-ed':>14} {'runs asked':>11}")
    for i, (t, s) in enumerate(zip(local["counts_per_tick"], local["tick_s"]), 1):
        print(f"   {i:6} {t['landed']:7,} {s:7.2f} {t['folders_checked']:16,} {t['listings']:9,} "
              f"{t['keys_parsed']:12,} {t['files_checked']:14,} {t['runs']:11}")
    forced = local["reconcile_tick_counts"]
    print(f"   local (extra): a tick whose reconciliation (the slices 30 s earn, and one more) starts on the "
          f"history's hour {local['reconcile_hour']}: {local['reconcile_tick_s']:.2f} s, {forced['folders_checked']:,} "
          f"folders checked, {forced['listings']:,} listings, {forced['keys_parsed']:,} keys parsed, "
          f"{forced['files_checked']:,} files stat'ed; once the late window is full of history, every tick's "
          "reconciliation lists as much")

    s3 = part_scale_s3(databases, moto, group, hours, seconds, s3_rate)
    scaled = "" if s3_rate >= live_rate else (f", scaled down from live pace ({live_rate:g}/s): moto's SQS "
                                              "receive slows with every message queued")
    print(f"   S3 + SQS events (moto): {s3_rate:g} segments/s put ({s3['segments_per_tick']:,} a tick, "
          f"{s3['put_s_per_tick']:.1f} s to put them{scaled}): tick p50 {s3['p50_s']:.2f} s (of which "
          f"{s3['waiting_on_moto_p50_s']:.2f} s waiting on moto), p95 {s3['p95_s']:.2f} s; {s3['left_in_queue']:,} "
          "message(s) left in the queue after the last tick")
    print(f"   {'tick':>6} {'put':>6} {'tick s':>7} {'on moto s':>10} {'messages':>9} {'keys parsed':>12} "
          f"{'ReceiveMessage':>15} {'DeleteMessageBatch':>19} {'ListObjectsV2':>14} {'left queued':>12}")
    for i, (t, s) in enumerate(zip(s3["counts_per_tick"], s3["tick_s"]), 1):
        print(f"   {i:6} {t['put']:6,} {s:7.2f} {t['waiting_s']:10.2f} {t['messages']:9,} {t['keys_parsed']:12,} "
              f"{t.get('ReceiveMessage', 0):15,} {t.get('DeleteMessageBatch', 0):19,} {t.get('ListObjectsV2', 0):14,} "
              f"{t['left_in_queue']:12,}")
    rq = s3["requests"]
    print(f"   S3 steady state, {s3['camera_hours']:.1f} camera-hours: {rq.get('ListObjectsV2', 0)} ListObjectsV2 = "
          f"{s3['list_per_camera_hour']:.3f} S3 LIST requests per camera-hour; {rq.get('ReceiveMessage', 0)} "
          f"ReceiveMessage + {rq.get('DeleteMessageBatch', 0)} DeleteMessageBatch = "
          f"{s3['sqs_per_camera_hour']:.2f} SQS requests per camera-hour at {s3_rate:g} segments/s")
    if s3["messages"]:
        print(f"   ... {s3['sqs_per_message']:.3f} SQS requests per message: "
              f"{s3['sqs_per_camera_hour_live_pace']:.1f} per camera-hour at live pace "
              f"({SEGMENTS_PER_HOUR} segments per camera-hour)")
    print(f"   ... the bucket holds only the new segments (the history is in the inventory only): reconciliation's "
          f"{s3['prefixes_listed']} prefix listing(s) were of empty prefixes; with the whole late window in the "
          f"bucket they would take ~{s3['list_full_bucket_estimate']:,} LIST requests (1,000 keys a page) = "
          f"{s3['list_full_bucket_per_camera_hour']:.2f} per camera-hour")
    return {"local": local, "s3_events": s3}


