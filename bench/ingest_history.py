"""bench/ingest.py, part 1: a tick's cost with a long history vs one hour (local folder, the old listing design, S3 +
SQS events)."""

import json
import shutil
import statistics
import time
from datetime import datetime
from pathlib import Path

import psycopg
from ingest_s3 import Moto, events_discovery, prefill, put_segments
from ingest_world import (
    COUNTED,
    FRIGATE,
    LATE_WINDOW,
    RECONCILE_HOURS,
    SEGMENT,
    Databases,
    cameras,
    counted,
    cursor_bytes,
    delta,
    every,
    history_label,
    history_starts,
    lay,
    ms,
    quiet,
    read_all,
    read_landed,
    scan,
    start_clock,
    vacuum,
)

from roz_pipeline.clips.catalog import ClipCatalog, fingerprint
from roz_pipeline.clips.folder_discovery import FolderDiscovery
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import HOUR, MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.new_clips import NewClipsCursor

# -- 1. history independence ------------------------------------------------------------------------------------

def old_design_tick(catalog: ClipCatalog, camera_ids: list[str], now: datetime) -> dict:
    """The old sensor's tick without its quadratic clip-end estimate: list and parse every key of the late window,
    fingerprint every camera-hour's clips (its cursor)."""
    listing = catalog.clips_starting(camera_ids, now - LATE_WINDOW - FRIGATE.longest_clip, now + MINUTE)
    inputs = {}
    for camera_id, clips in listing.clips.items():
        by_hour: dict[datetime, list] = {}
        for clip in clips:
            by_hour.setdefault(floor(clip.start, HOUR), []).append(clip)
        inputs[camera_id] = {f"{hour:%Y-%m-%d-%H:%M}": fingerprint(fed) for hour, fed in by_hour.items()}
    return {"inputs": inputs, "reported": []}


class LocalHistory:
    """A local folder with `hours` of history, its inventory taken in and read; then ticks, one at a time (the
    histories' ticks are interleaved, so that the machine's other work weighs on both alike)."""

    def __init__(self, databases: Databases, work: Path, group: list[Camera], hours: float):
        label = history_label(hours).replace(" ", "")
        self.conn = psycopg.connect(databases.fresh(f"local_{label}"), autocommit=True)
        self.root, self.clock = work / f"local-{label}", start_clock(30)
        self.names, self.ids = [c.name_in_store for c in group], [c.camera_id for c in group]
        history = history_starts(self.clock.now, hours)
        started = time.perf_counter()
        self.result = {"history_hours": hours, "clips": lay(self.root, every(self.names, history))}
        self.result["build_s"] = round(time.perf_counter() - started, 1)
        self.catalog = ClipCatalog(LocalClipStore(self.root), FRIGATE, group)
        self.discovery = FolderDiscovery(self.catalog, RECONCILE_HOURS, LATE_WINDOW, self.clock)
        self.landing = history[-1] + SEGMENT  # the next segment's start: it has ended once the clock moved 10 s
        started, self.cursor, taking_in = time.perf_counter(), NewClipsCursor(), []
        while not taking_in or taking_in[-1]:  # history found at once is taken in over ticks (NEW_KEYS_PER_TICK)
            before = self.discovery.counts.changed
            self.cursor = scan(self.discovery, self.conn, self.ids, self.cursor, self.clock.now).cursor
            taking_in.append(self.discovery.counts.changed - before)
        self.result["first_ticks_s"] = round(time.perf_counter() - started, 2)
        self.result["first_ticks"] = taking_in[:-1]
        read_all(self.discovery, self.conn, self.ids, self.clock.now)
        vacuum(self.conn)
        quiet(self.conn)
        self.samples, self.per_tick, self.baseline = [], [], []

    def land(self) -> list[tuple[str, datetime]]:
        self.clock.now += SEGMENT
        landed = every(self.names, [self.landing])
        lay(self.root, landed)
        self.landing += SEGMENT
        return landed

    def tick(self) -> None:
        landed = self.land()
        before = counted(self.discovery.counts)
        started = time.perf_counter()
        self.cursor = scan(self.discovery, self.conn, self.ids, self.cursor, self.clock.now).cursor
        self.samples.append(time.perf_counter() - started)
        self.per_tick.append(delta(counted(self.discovery.counts), before))
        read_landed(self.discovery, self.conn, self.names, landed)

    def baseline_tick(self) -> None:
        """The old design's tick, same folder, the clock going on."""
        self.land()
        started = time.perf_counter()
        self.old_cursor = old_design_tick(self.catalog, self.ids, self.clock.now)
        self.baseline.append(time.perf_counter() - started)

    def close(self) -> dict:
        self.conn.close()
        shutil.rmtree(self.root)
        return {**self.result, "tick_s": self.samples, "median_tick_s": statistics.median(self.samples),
                "cursor_bytes": cursor_bytes(self.cursor),
                "counts_per_tick": {name: statistics.median(t[name] for t in self.per_tick) for name in COUNTED},
                "baseline_tick_s": self.baseline, "baseline_median_tick_s": statistics.median(self.baseline),
                "baseline_cursor_bytes": len(json.dumps(self.old_cursor))}


class S3History:
    """A bucket with event notifications and `hours` of history in its inventory (rows upserted directly, marked
    read); the ticks put one new segment per camera first."""

    def __init__(self, databases: Databases, moto: Moto, group: list[Camera], hours: float):
        label = history_label(hours).replace(" ", "")
        self.conn = psycopg.connect(databases.fresh(f"s3_{label}"), autocommit=True)
        self.clock, self.moto = start_clock(30), moto
        self.names, self.ids = [c.name_in_store for c in group], [c.camera_id for c in group]
        self.discovery, self.requests, self.bucket, _ = events_discovery(moto, group, self.clock)
        self.uploader = moto.client("s3")
        history = history_starts(self.clock.now, hours)
        self.landing = history[-1] + SEGMENT
        started = time.perf_counter()
        self.result = {"history_hours": hours,
                       "rows": prefill(self.conn, self.discovery.store_id, self.names, history, self.clock.now)}
        vacuum(self.conn)
        self.result["prefill_s"] = round(time.perf_counter() - started, 1)
        self.cursor = scan(self.discovery, self.conn, self.ids, NewClipsCursor(), self.clock.now).cursor
        quiet(self.conn)
        self.samples, self.per_tick, self.steady_from = [], [], self.requests.snapshot()
        self.waited = []

    def tick(self) -> None:
        self.clock.now += SEGMENT
        landed = every(self.names, [self.landing])
        put_segments(self.uploader, self.bucket, landed)
        self.landing += SEGMENT
        before, waited = counted(self.discovery.counts), self.requests.waited
        started = time.perf_counter()
        self.cursor = scan(self.discovery, self.conn, self.ids, self.cursor, self.clock.now).cursor
        self.samples.append(time.perf_counter() - started)
        self.waited.append(self.requests.waited - waited)
        self.per_tick.append(delta(counted(self.discovery.counts), before))
        read_landed(self.discovery, self.conn, self.names, landed)

    def close(self) -> dict:
        self.conn.close()
        steady = self.requests.snapshot() - self.steady_from
        return {**self.result, "tick_s": self.samples, "median_tick_s": statistics.median(self.samples),
                "median_waiting_on_moto_s": statistics.median(self.waited),
                "counts_per_tick": {name: statistics.median(t[name] for t in self.per_tick) for name in COUNTED},
                "requests_per_tick": {op: n / len(self.samples) for op, n in steady.items()}}


def report(results: dict, long_hours: float) -> None:
    long_label, baseline_ticks = history_label(long_hours), results["baseline_ticks"]
    short, long = (results["local"][history_label(hours)] for hours in (1, long_hours))
    s3_short, s3_long = (results["s3_events"][history_label(hours)] for hours in (1, long_hours))
    print(f"   {'median steady-state tick':64} {'1 h':>11} {long_label:>11} {long_label + ' / 1 h':>9}")
    rows = [("local folder, inventory: FolderDiscovery + scan_new_clips", short["median_tick_s"],
             long["median_tick_s"], results["local_ratio"], "target <= 1.5"),
            (f"local folder, old design: list + parse + fingerprint ({baseline_ticks} ticks)",
             short["baseline_median_tick_s"], long["baseline_median_tick_s"], results["baseline_ratio"], "baseline"),
            ("S3 + SQS events (moto), inventory: EventDiscovery + scan_new_clips", s3_short["median_tick_s"],
             s3_long["median_tick_s"], results["s3_ratio"], "target <= 1.5"),
            ("... of which waiting on moto's S3 and SQS (in this process)", s3_short["median_waiting_on_moto_s"],
             s3_long["median_waiting_on_moto_s"], s3_long["median_waiting_on_moto_s"]
             / s3_short["median_waiting_on_moto_s"], "")]
    for name, a, b, ratio, note in rows:
        print(f"   {name:64} {ms(a):>11} {ms(b):>11} {ratio:9.2f}" + (f"  ({note})" if note else ""))
    c_short, c_long = short["counts_per_tick"], long["counts_per_tick"]
    print(f"   local, per steady tick (median) at 1 h / {long_label}: folders checked {c_short['folders_checked']:g} / "
          f"{c_long['folders_checked']:g}, listings {c_short['listings']:g} / {c_long['listings']:g}, keys parsed "
          f"{c_short['keys_parsed']:g} / {c_long['keys_parsed']:g}, files stat'ed {c_short['files_checked']:g} / "
          f"{c_long['files_checked']:g}")
    print(f"   old design at {long_label}: {results['baseline_vs_inventory']:,.0f}x the inventory's tick; its cursor "
          f"{long['baseline_cursor_bytes']:,} bytes (a fingerprint per camera-hour) vs the inventory's "
          f"{long['cursor_bytes']:,}; kept linear: the old quadratic clip-end estimate (a median of the gaps for "
          "every clip) is left out")
    rq = s3_long["requests_per_tick"]
    print(f"   S3 at {long_label}, per steady tick (mean): {rq.get('ReceiveMessage', 0):g} ReceiveMessage, "
          f"{rq.get('DeleteMessageBatch', 0):g} DeleteMessageBatch, {rq.get('ListObjectsV2', 0):g} ListObjectsV2; the "
          f"history is in the inventory only ({s3_long['rows']:,} rows upserted directly and marked read in "
          f"{s3_long['prefill_s']} s), the bucket holds just the new segments (reconciliation slices list empty "
          "prefixes)")


def part_history(databases: Databases, moto: Moto, work: Path, camera_count: int, days: float, ticks: int,
                 baseline_ticks: int) -> dict:
    group, long_hours = cameras(camera_count), days * 24
    long_label = history_label(long_hours)
    print(f"1. history independence: {camera_count} cameras, 1 h vs {long_label} of history; median of {ticks} "
          "steady-state ticks, each after one new segment per camera (the clock +10 s a tick), the two histories' "
          "ticks interleaved; VACUUM ANALYZE after the history was taken in and read, as autovacuum would",
          flush=True)
    histories = [LocalHistory(databases, work, group, hours) for hours in (1, long_hours)]
    for history in histories:
        r = history.result
        print(f"   local, {history_label(r['history_hours'])}: {r['clips']:,} placeholder files made in "
              f"{r['build_s']} s; taken in by {len(r['first_ticks'])} tick(s) at the same clock "
              f"({', '.join(f'{n:,}' for n in r['first_ticks'])} clips) in {r['first_ticks_s']} s", flush=True)
    for _ in range(ticks):
        for history in histories:
            history.tick()
    for _ in range(baseline_ticks):
        for history in histories:
            history.baseline_tick()
    short, long = (history.close() for history in histories)
    local = {1: short, long_hours: long}
    s3_histories = [S3History(databases, moto, group, hours) for hours in (1, long_hours)]
    for _ in range(ticks):
        for history in s3_histories:
            history.tick()
    s3_short, s3_long = (history.close() for history in s3_histories)
    s3 = {1: s3_short, long_hours: s3_long}
    results = {
        "cameras": camera_count, "days": days, "ticks": ticks, "baseline_ticks": baseline_ticks,
        "local": {history_label(h): r for h, r in local.items()},
        "s3_events": {history_label(h): r for h, r in s3.items()},
        "local_ratio": long["median_tick_s"] / short["median_tick_s"],
        "baseline_ratio": long["baseline_median_tick_s"] / short["baseline_median_tick_s"],
        "s3_ratio": s3_long["median_tick_s"] / s3_short["median_tick_s"],
        "baseline_vs_inventory": long["baseline_median_tick_s"] / long["median_tick_s"],
    }
    report(results, long_hours)
    return results


