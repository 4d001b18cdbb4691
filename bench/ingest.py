"""new_clips_sensor's tick over the clip inventory: its cost follows what changed in the store, not its history.

    python bench/ingest.py [--quick] [--cameras 10] [--days 7] [--ticks 10] [--scale-cameras 1000]
                           [--scale-hours 2] [--scale-seconds 300] [--s3-rate N] [--json OUT]

Frigate's layout (`%Y-%m-%d/%H/{camera}/%M.%S.mp4`), one 10 s segment per camera every 10 s, as empty placeholder
files whose mtime is the segment's end (the scan never opens a clip). Every database is fresh
(`roz_bench_ingest_*` on DATABASE_URL's server, else the embedded PostgreSQL under bench/out/roz); S3 and SQS are
moto's server in this process. The clock is simulated (it moves as the ticks say, not with the wall) and is also
the discoveries' wall clock. Two parts:

1. History independence (--cameras, --days; --quick: 3 cameras, 1 day): the median steady-state tick of
   `scan_new_clips` with `days` of history vs 1 hour, late window 7 days. Per history: build it, a first tick takes
   it in, everything is marked read (as runs would), then --ticks ticks, each after one new segment per camera has
   landed (the clock moves 10 s a tick; the new segments are marked read after each tick, as the run following the
   hour would). Local folder (FolderDiscovery) with, in the same run, the baseline of the old listing design on the
   same folder: list and parse the late window (ClipCatalog.clips_starting) and fingerprint every camera-hour,
   linear (without the old quadratic clip-end estimate). Then S3 with SQS event notifications (EventDiscovery): the
   history is put into the inventory directly (rows, marked read), only the new segments go to the bucket.
2. Scale (--scale-cameras, --scale-hours, --scale-seconds; --quick: 50 cameras, 30 s): 2 hours of history, first
   tick, everything marked read, then live pace (one segment per camera every 10 s: 100 segments/s at 1,000
   cameras) for 5 minutes, a tick every 30 s (the sensor's interval) after that tick's segments landed, each
   camera's in time order. Tick p50/p95, cursor size, DiscoveryCounts per tick. Then the same over S3 + SQS
   events, with the history in the inventory only, at --s3-rate segments/s (moto's SQS gets slower with every
   message queued: default 5/s) and every S3 and SQS request counted by operation (a botocore hook).

Prints what was measured and the ratios; asserts nothing about time.
"""

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import psycopg
from botocore.config import Config
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from databases import fresh_database, server_url  # noqa: E402  (bench/ is the script's folder)
from roz_pipeline.clips.catalog import ClipCatalog, fingerprint  # noqa: E402
from roz_pipeline.clips.discovery import DiscoveryCounts, EventDiscovery, FolderDiscovery  # noqa: E402
from roz_pipeline.clips.inventory import ClipInventory  # noqa: E402
from roz_pipeline.clips.layout import ClipLayout  # noqa: E402
from roz_pipeline.clips.stores import LocalClipStore, S3ClipStore  # noqa: E402
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, floor  # noqa: E402
from roz_pipeline.registry import Camera  # noqa: E402
from roz_pipeline.settings import migrations_dir  # noqa: E402
from roz_pipeline.storage import inventory  # noqa: E402
from roz_pipeline.storage.inventory import StoredClip  # noqa: E402
from roz_pipeline.storage.migrations import Migrator  # noqa: E402
from roz_pipeline.usecases.live import SETTLE  # noqa: E402
from roz_pipeline.usecases.new_clips import NewClipsCursor, PartitionSlot, scan_new_clips  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
DATABASE = "roz_bench_ingest"
FRIGATE = ClipLayout.from_setting("frigate")
SEGMENT = timedelta(seconds=10)
LATE_WINDOW = 7 * DAY  # ROZ_LATE_CLIP_DAYS' default
RECONCILE_HOURS = 6  # ROZ_RECONCILE_HOURS' default
MAX_PARTITIONS = 50  # ROZ_MAX_RUNS_PER_TICK's default x 1 partition per run (hour grain)
SENSOR_INTERVAL = timedelta(seconds=30)  # ROZ_SENSOR_INTERVAL_SECONDS' default
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
PREFIX = "site-a"
PUT_THREADS = 8
PREFILL_BATCH = 50_000
COUNTED = ("folders_checked", "listings", "keys_parsed", "files_checked", "messages", "changed", "gone", "reconciled")


# -- the simulated clock, cameras and segments ------------------------------------------------------------------

class Clock:
    """The simulated now; also the discoveries' wall clock. It starts hours ahead of the real clock, so that the
    folders' real ctimes (written just now) always read as older than a listing."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def start_clock(minute_in_hour: int, second: int = 5) -> Clock:
    real = datetime.now(timezone.utc)
    return Clock(floor(real, HOUR) + 3 * HOUR + timedelta(minutes=minute_in_hour, seconds=second))


def cameras(count: int) -> list[Camera]:
    width = max(2, len(str(count - 1)))
    return [Camera(f"cam-{i:0{width}d}", source_name=f"Cam{i:0{width}d}") for i in range(count)]


def segment_starts(start: datetime, end: datetime) -> list[datetime]:
    """The 10 s segments starting in `start <= t < end` (on the 10 s grid)."""
    moment, result = floor(start, SEGMENT), []
    moment += SEGMENT if moment < start else timedelta(0)
    while moment < end:
        result.append(moment)
        moment += SEGMENT
    return result


def lay(root: Path, segments) -> int:
    """Placeholder segments, each (camera name, start): an empty file whose mtime is the segment's end, as a
    recorder leaves it. The number of files."""
    made = set()
    count = 0
    for name, start in segments:
        path = root / FRIGATE.key(name, start)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        end_ns = int((start + SEGMENT).timestamp()) * 1_000_000_000
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.utime(fd, ns=(end_ns, end_ns))
        finally:
            os.close(fd)
        count += 1
    return count


def every(names: list[str], starts: list[datetime]) -> list[tuple[str, datetime]]:
    """Each camera's segment at each start, start after start (the order they land)."""
    return [(name, start) for start in starts for name in names]


def slot(camera_id: str, moment: datetime) -> PartitionSlot:
    hour = floor(moment, HOUR)
    return PartitionSlot(f"{hour:%Y-%m-%d-%H:%M}", hour, hour + HOUR)


def scan(discovery, conn, camera_ids: list[str], cursor: NewClipsCursor, now: datetime):
    return scan_new_clips(discovery, conn, camera_ids, cursor, slot, "hour", now, LATE_WINDOW, SETTLE, MAX_PARTITIONS)


def read_all(discovery, conn, camera_ids: list[str], now: datetime) -> int:
    """As if runs had read every clip held (to its end); how many."""
    clips = ClipInventory(discovery, conn).clips_starting(camera_ids, now - LATE_WINDOW - HOUR, now + HOUR)
    reads = {clip.key: (clip.version, None) for listed in clips.clips.values() for clip in listed}
    ClipInventory(discovery, conn).mark_read(reads)
    return len(reads)


def read_landed(discovery, conn, names: list[str], start: datetime, end: datetime) -> None:
    """As the run following the hour would: the clips starting in `start <= t < end` read to their end (straight
    from the inventory, no look at the store)."""
    rows = inventory.clips_starting(conn, discovery.store_id, names, start, end)
    ClipInventory(discovery, conn).mark_read({row.key: (row.version, None) for row in rows})


def counted(counts: DiscoveryCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in COUNTED}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def history_label(hours: float) -> str:
    return f"{hours / 24:g} d" if hours >= 24 else f"{hours:g} h"


# -- databases and moto ---------------------------------------------------------------------------------------

class Databases:
    """Fresh migrated databases `roz_bench_ingest_<label>`, all dropped by close()."""

    def __init__(self):
        self.server = server_url()
        self.names: list[str] = []

    def fresh(self, label: str) -> str:
        name = f"{DATABASE}_{label}"
        url = fresh_database(self.server, name)
        self.names.append(name)
        Migrator(url, migrations_dir()).migrate()
        return url

    def close(self) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            for name in self.names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Moto:
    """moto's S3 + SQS server in this process; bucket() makes a bucket whose object notifications go to a queue."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.buckets = 0
        self.sqs = self.client("sqs")

    def client(self, service: str, counter: "Requests | None" = None):
        client = boto3.client(service, endpoint_url=self.endpoint,
                              config=Config(max_pool_connections=PUT_THREADS * 2), **CREDENTIALS)
        if counter is not None:
            client.meta.events.register("before-send", counter)
        return client

    def bucket(self) -> tuple[str, str]:
        """(bucket, queue URL): a fresh bucket notifying a fresh queue of every object created or removed."""
        self.buckets += 1
        bucket, s3, sqs = f"roz-bench-{self.buckets}", self.client("s3"), self.client("sqs")
        s3.create_bucket(Bucket=bucket)
        queue = sqs.create_queue(QueueName=f"roz-bench-clips-{self.buckets}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
        return bucket, queue

    def queued(self, queue: str) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def close(self) -> None:
        self.server.stop()


class Requests:
    """A botocore `before-send` hook counting HTTP requests by operation."""

    def __init__(self):
        self.counts = Counter()

    def __call__(self, event_name: str = "", **kwargs):
        self.counts[event_name.rsplit(".", 1)[-1]] += 1  # before-send.<service>.<Operation>
        return None  # None: the request is sent

    def snapshot(self) -> Counter:
        return Counter(self.counts)


def put_segments(client, bucket: str, segments: list[tuple[str, datetime]]) -> float:
    """Put each (camera name, start) as an empty object (each put sends an event); seconds taken."""
    started = time.perf_counter()
    keys = [f"{PREFIX}/{FRIGATE.key(name, start)}" for name, start in segments]
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    return time.perf_counter() - started


def prefill(conn, store_id: str, names: list[str], starts: list[datetime], observed_at: datetime) -> int:
    """The history as inventory rows (as if discovered), read to their end; the number of rows."""
    total = 0
    batch: list[StoredClip] = []

    def flush():
        inventory.upsert_clips(conn, store_id, batch, observed_at)
        inventory.mark_read(conn, store_id, [inventory.ClipRead(c.key, c.version, None) for c in batch])
        batch.clear()

    for start in starts:
        for name in names:
            batch.append(StoredClip(FRIGATE.key(name, start), name, start, 0, "prefilled", start + SEGMENT))
            if len(batch) >= PREFILL_BATCH:
                total += len(batch)
                flush()
    total += len(batch)
    if batch:
        flush()
    return total


# -- 1. history independence ----------------------------------------------------------------------------------

def local_history(databases: Databases, work: Path, group: list[Camera], hours: float, ticks: int) -> dict:
    """The steady-state tick with `hours` of history in a local folder, then the old listing design's tick over
    the same folder."""
    label = history_label(hours).replace(" ", "")
    url = databases.fresh(f"local_{label}")
    root = work / f"local-{label}"
    clock = start_clock(30)
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    history = segment_starts(clock.now - timedelta(hours=hours), clock.now - SEGMENT + timedelta(seconds=1))
    started = time.perf_counter()
    files = lay(root, every(names, history))
    build_s = time.perf_counter() - started
    landing = history[-1] + SEGMENT  # the next segment's start: it has ended once the clock moved 10 s
    catalog = ClipCatalog(LocalClipStore(root), FRIGATE, group)
    discovery = FolderDiscovery(catalog, RECONCILE_HOURS, clock)
    result = {"history_hours": hours, "clips": files, "build_s": round(build_s, 1)}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        cursor = scan(discovery, conn, ids, NewClipsCursor(), clock.now).cursor
        result["first_tick_s"] = round(time.perf_counter() - started, 2)
        result["first_tick_taken_in"] = discovery.counts.changed
        read_all(discovery, conn, ids, clock.now)
        samples, per_tick = [], []
        for _ in range(ticks):
            clock.now += SEGMENT
            lay(root, every(names, [landing]))
            before = counted(discovery.counts)
            started = time.perf_counter()
            cursor = scan(discovery, conn, ids, cursor, clock.now).cursor
            samples.append(time.perf_counter() - started)
            per_tick.append(delta(counted(discovery.counts), before))
            read_landed(discovery, conn, names, landing, landing + SEGMENT)
            landing += SEGMENT
        result["tick_s"] = samples
        result["median_tick_s"] = statistics.median(samples)
        result["counts_per_tick"] = {name: statistics.median(t[name] for t in per_tick) for name in COUNTED}
        result["cursor_bytes"] = len(json.dumps(cursor.to_json()))

    # the old design's tick, same folder, the clock going on
    samples, old_cursor = [], {}
    for _ in range(ticks):
        clock.now += SEGMENT
        lay(root, every(names, [landing]))
        landing += SEGMENT
        started = time.perf_counter()
        listing = catalog.clips_starting(ids, clock.now - LATE_WINDOW - FRIGATE.longest_clip, clock.now + MINUTE)
        old_cursor = {}
        for camera_id, clips in listing.clips.items():
            by_hour: dict[datetime, list] = {}
            for clip in clips:
                by_hour.setdefault(floor(clip.start, HOUR), []).append(clip)
            old_cursor[camera_id] = {f"{hour:%Y-%m-%d-%H:%M}": fingerprint(fed) for hour, fed in by_hour.items()}
        samples.append(time.perf_counter() - started)
    result["baseline_tick_s"] = samples
    result["baseline_median_tick_s"] = statistics.median(samples)
    result["baseline_cursor_bytes"] = len(json.dumps({"inputs": old_cursor, "reported": []}))
    shutil.rmtree(root)
    return result


def s3_history(databases: Databases, moto: Moto, group: list[Camera], hours: float, ticks: int) -> dict:
    """The steady-state tick with `hours` of history in the inventory of a bucket with event notifications."""
    label = history_label(hours).replace(" ", "")
    url = databases.fresh(f"s3_{label}")
    bucket, queue = moto.bucket()
    clock = start_clock(30)
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    requests = Requests()
    discovery = EventDiscovery(ClipCatalog(S3ClipStore(moto.client("s3", requests), bucket, PREFIX), FRIGATE, group),
                               RECONCILE_HOURS, moto.client("sqs", requests), queue, clock)
    uploader = moto.client("s3")
    result = {"history_hours": hours}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        history = segment_starts(clock.now - timedelta(hours=hours), clock.now - SEGMENT + timedelta(seconds=1))
        result["rows"] = prefill(conn, discovery.store_id, names, history, clock.now)
        landing = history[-1] + SEGMENT
        result["prefill_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cursor = scan(discovery, conn, ids, NewClipsCursor(), clock.now).cursor
        result["first_tick_s"] = round(time.perf_counter() - started, 2)
        samples, per_tick, before_requests = [], [], requests.snapshot()
        for _ in range(ticks):
            clock.now += SEGMENT
            put_segments(uploader, bucket, every(names, [landing]))
            before = counted(discovery.counts)
            started = time.perf_counter()
            cursor = scan(discovery, conn, ids, cursor, clock.now).cursor
            samples.append(time.perf_counter() - started)
            per_tick.append(delta(counted(discovery.counts), before))
            read_landed(discovery, conn, names, landing, landing + SEGMENT)
            landing += SEGMENT
        result["tick_s"] = samples
        result["median_tick_s"] = statistics.median(samples)
        result["counts_per_tick"] = {name: statistics.median(t[name] for t in per_tick) for name in COUNTED}
        result["requests_per_tick"] = {op: round(n / ticks, 1) for op, n in (requests.snapshot() - before_requests).items()}
    return result


def part_history(databases: Databases, moto: Moto, work: Path, camera_count: int, days: float, ticks: int) -> dict:
    group = cameras(camera_count)
    long_hours = days * 24
    print(f"1. history independence: {camera_count} cameras, Frigate 10 s segments, late window 7 days; "
          f"{ticks} steady-state ticks, each after one new segment per camera (clock +10 s a tick)", flush=True)
    local = {hours: local_history(databases, work, group, hours, ticks) for hours in (1, long_hours)}
    short, long = local[1], local[long_hours]
    for r in (short, long):
        print(f"   local, {history_label(r['history_hours'])} of history: {r['clips']:,} placeholder files made in "
              f"{r['build_s']} s; first tick took {r['first_tick_taken_in']:,} clips in, {r['first_tick_s']} s",
              flush=True)
    s3 = {hours: s3_history(databases, moto, group, hours, ticks) for hours in (1, long_hours)}
    s3_short, s3_long = s3[1], s3[long_hours]
    results = {
        "cameras": camera_count, "days": days, "ticks": ticks,
        "local": {history_label(h): r for h, r in local.items()}, "s3_events": {history_label(h): r for h, r in s3.items()},
        "local_ratio": long["median_tick_s"] / short["median_tick_s"],
        "baseline_ratio": long["baseline_median_tick_s"] / short["baseline_median_tick_s"],
        "s3_ratio": s3_long["median_tick_s"] / s3_short["median_tick_s"],
    }
    long_label = history_label(long_hours)
    print(f"   median steady-state tick{'':31} {'1 h':>10} {long_label:>10} {long_label + ' / 1 h':>10}")
    print(f"   {'local folder: inventory (FolderDiscovery + scan)':58} {ms(short['median_tick_s']):>10} "
          f"{ms(long['median_tick_s']):>10} {results['local_ratio']:10.2f}  (target <= 1.5)")
    print(f"   {'local folder: old design (list + parse, fingerprint)':58} {ms(short['baseline_median_tick_s']):>10} "
          f"{ms(long['baseline_median_tick_s']):>10} {results['baseline_ratio']:10.2f}  (baseline)")
    print(f"   {'S3 + SQS events (moto): inventory (EventDiscovery + scan)':58} {ms(s3_short['median_tick_s']):>10} "
          f"{ms(s3_long['median_tick_s']):>10} {results['s3_ratio']:10.2f}  (target <= 1.5)")
    c_short, c_long = short["counts_per_tick"], long["counts_per_tick"]
    print(f"   local, per steady tick (median), 1 h / {long_label}: folders checked {c_short['folders_checked']:g} / "
          f"{c_long['folders_checked']:g}, listings {c_short['listings']:g} / {c_long['listings']:g}, keys parsed "
          f"{c_short['keys_parsed']:g} / {c_long['keys_parsed']:g}, files stat'ed {c_short['files_checked']:g} / "
          f"{c_long['files_checked']:g}")
    print(f"   old design at {long_label}: {long['baseline_median_tick_s'] / long['median_tick_s']:.0f}x the "
          f"inventory's tick; its cursor {long['baseline_cursor_bytes']:,} bytes (a fingerprint per camera-hour) vs "
          f"the inventory's {long['cursor_bytes']:,}. The baseline is linear: the old quadratic clip-end estimate "
          "(a median of gaps per clip) is left out")
    rq = s3_long["requests_per_tick"]
    print(f"   S3 at {long_label}: per steady tick (mean) {rq.get('ReceiveMessage', 0):g} ReceiveMessage, "
          f"{rq.get('DeleteMessageBatch', 0):g} DeleteMessageBatch, {rq.get('ListObjectsV2', 0):g} ListObjectsV2. "
          f"The history is in the inventory only ({s3_long['rows']:,} rows put directly, marked read); the bucket "
          "holds just the new segments, so reconciliation slices list empty prefixes")
    return results


# -- 2. scale ---------------------------------------------------------------------------------------------------

def live_segments(names: list[str], first: datetime):
    """Every camera's segments from `first` on, in the order they land: start after start, camera after camera."""
    moment = first
    while True:
        for name in names:
            yield name, moment
        moment += SEGMENT


def part_scale_local(databases: Databases, work: Path, group: list[Camera], hours: float, seconds: float) -> dict:
    url = databases.fresh("scale_local")
    root = work / "scale-local"
    clock = start_clock(57, 35)  # the hour ends during the 5 minutes, and settles
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    history = segment_starts(clock.now - timedelta(hours=hours), clock.now - SEGMENT + timedelta(seconds=1))
    started = time.perf_counter()
    files = lay(root, every(names, history))
    result = {"cameras": len(group), "history_hours": hours, "files": files,
              "build_s": round(time.perf_counter() - started, 1)}
    print(f"   local: {files:,} placeholder files ({len(group):,} cameras x {hours:g} h) made in {result['build_s']} s",
          flush=True)
    discovery = FolderDiscovery(ClipCatalog(LocalClipStore(root), FRIGATE, group), RECONCILE_HOURS, clock)
    pending = live_segments(names, history[-1] + SEGMENT)
    waiting = next(pending)
    ticks, samples, per_tick, cursors, landed_total = int(seconds // SENSOR_INTERVAL.total_seconds()), [], [], [], 0
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        first = scan(discovery, conn, ids, NewClipsCursor(), clock.now)
        result["first_tick_s"] = round(time.perf_counter() - started, 1)
        result["first_tick_taken_in"] = discovery.counts.changed
        result["first_tick_cursor_bytes"] = len(json.dumps(first.cursor.to_json()))
        result["first_tick_runs"] = sum(map(len, first.read.values()))
        started = time.perf_counter()
        result["marked_read"] = read_all(discovery, conn, ids, clock.now)
        result["mark_read_s"] = round(time.perf_counter() - started, 1)
        print(f"   local: first tick took {result['first_tick_taken_in']:,} clips in, {result['first_tick_s']} s "
              f"({result['first_tick_runs']} runs asked for, cursor {result['first_tick_cursor_bytes']:,} bytes); "
              f"all marked read in {result['mark_read_s']} s", flush=True)
        cursor, land_s = first.cursor, []
        for _ in range(ticks):
            clock.now += SENSOR_INTERVAL
            batch = []
            while waiting[1] + SEGMENT <= clock.now:  # every segment ended by now has landed
                batch.append(waiting)
                waiting = next(pending)
            started = time.perf_counter()
            lay(root, batch)
            land_s.append(time.perf_counter() - started)
            landed_total += len(batch)
            before = counted(discovery.counts)
            started = time.perf_counter()
            tick = scan(discovery, conn, ids, cursor, clock.now)
            samples.append(time.perf_counter() - started)
            cursor = tick.cursor
            per_tick.append({"landed": len(batch), "runs": sum(map(len, tick.read.values())),
                             **delta(counted(discovery.counts), before)})
            cursors.append(len(json.dumps(cursor.to_json())))
            read_landed(discovery, conn, names, batch[0][1], batch[-1][1] + SEGMENT)
    result.update({"ticks": ticks, "landed": landed_total, "tick_s": samples, "p50_s": statistics.median(samples),
                   "p95_s": percentile(samples, 0.95), "cursor_bytes_max": max(cursors), "counts_per_tick": per_tick,
                   "landing_s_per_tick": statistics.median(land_s)})
    shutil.rmtree(root)
    return result


def part_scale_s3(databases: Databases, moto: Moto, group: list[Camera], hours: float, seconds: float,
                  rate: float) -> dict:
    url = databases.fresh("scale_s3")
    bucket, queue = moto.bucket()
    clock = start_clock(57, 35)
    names, ids = [c.name_in_store for c in group], [c.camera_id for c in group]
    requests = Requests()
    discovery = EventDiscovery(ClipCatalog(S3ClipStore(moto.client("s3", requests), bucket, PREFIX), FRIGATE, group),
                               RECONCILE_HOURS, moto.client("sqs", requests), queue, clock)
    uploader = moto.client("s3")
    history = segment_starts(clock.now - timedelta(hours=hours), clock.now - SEGMENT + timedelta(seconds=1))
    per_tick_segments = round(rate * SENSOR_INTERVAL.total_seconds())
    ticks = int(seconds // SENSOR_INTERVAL.total_seconds())
    result = {"cameras": len(group), "history_hours": hours, "rate_per_s": rate, "segments_per_tick": per_tick_segments}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        result["rows"] = prefill(conn, discovery.store_id, names, history, clock.now)
        result["prefill_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cursor = scan(discovery, conn, ids, NewClipsCursor(), clock.now).cursor
        result["first_tick_s"] = round(time.perf_counter() - started, 2)
        print(f"   S3: {result['rows']:,} inventory rows put directly and marked read in {result['prefill_s']} s; "
              f"first tick {result['first_tick_s']} s", flush=True)
        pending = live_segments(names, history[-1] + SEGMENT)  # at a rate below live pace they land late
        samples, per_tick, put_s, queued = [], [], [], []
        steady_from = requests.snapshot()
        for _ in range(ticks):
            clock.now += SENSOR_INTERVAL
            batch = [next(pending) for _ in range(per_tick_segments)]
            put_s.append(put_segments(uploader, bucket, batch))
            before, before_requests = counted(discovery.counts), requests.snapshot()
            started = time.perf_counter()
            cursor = scan(discovery, conn, ids, cursor, clock.now).cursor
            samples.append(time.perf_counter() - started)
            queued.append(moto.queued(queue))
            per_tick.append({"put": len(batch), **delta(counted(discovery.counts), before),
                             **(requests.snapshot() - before_requests), "left_in_queue": queued[-1]})
            read_landed(discovery, conn, names, min(s for _, s in batch), max(s for _, s in batch) + SEGMENT)
        steady = requests.snapshot() - steady_from
    camera_hours = len(group) * ticks * SENSOR_INTERVAL / HOUR
    messages = sum(t["messages"] for t in per_tick)
    sqs_requests = steady["ReceiveMessage"] + steady["DeleteMessageBatch"]
    prefixes_listed = sum(t["listings"] for t in per_tick)
    full_pages = prefixes_listed * -(-len(group) * 360 // 1000)  # a Frigate hour prefix: 360 keys per camera
    result.update({
        "ticks": ticks, "tick_s": samples, "p50_s": statistics.median(samples), "p95_s": percentile(samples, 0.95),
        "put_s_per_tick": statistics.median(put_s), "counts_per_tick": per_tick, "requests": dict(steady),
        "camera_hours": camera_hours, "messages": messages,
        "list_per_camera_hour": steady["ListObjectsV2"] / camera_hours,
        "sqs_per_camera_hour": sqs_requests / camera_hours,
        "sqs_per_message": sqs_requests / messages if messages else None,
        "sqs_per_camera_hour_live": sqs_requests / messages * 360 if messages else None,
        "list_full_bucket_estimate": full_pages, "list_full_bucket_per_camera_hour": full_pages / camera_hours,
        "left_in_queue": queued[-1],
    })
    return result


def part_scale(databases: Databases, moto: Moto, work: Path, camera_count: int, hours: float, seconds: float,
               s3_rate: float) -> dict:
    group = cameras(camera_count)
    live_rate = camera_count / SEGMENT.total_seconds()
    print(f"\n2. scale: {camera_count:,} cameras, {hours:g} h of history, then live pace ({live_rate:g} segments/s) for "
          f"{seconds:g} s, a tick every {SENSOR_INTERVAL.total_seconds():g} s", flush=True)
    local = part_scale_local(databases, work, group, hours, seconds)
    print(f"   local: {local['ticks']} ticks, {local['landed']:,} segments landed ({local['landed'] / local['ticks']:,.0f} "
          f"per tick, {local['landing_s_per_tick']:.1f} s to write them): tick p50 {local['p50_s']:.2f} s, "
          f"p95 {local['p95_s']:.2f} s (target p95 <= 5 s); cursor at most {local['cursor_bytes_max']:,} bytes "
          f"(target <= 64 KB)")
    print(f"   {'tick':>4} {'landed':>7} {'tick s':>7} {'folders checked':>16} {'listings':>9} {'keys parsed':>12} "
          f"{'files stat-ed':>14} {'runs asked':>11}")
    for i, (t, s) in enumerate(zip(local["counts_per_tick"], local["tick_s"]), 1):
        print(f"   {i:4} {t['landed']:7,} {s:7.2f} {t['folders_checked']:16,} {t['listings']:9,} {t['keys_parsed']:12,} "
              f"{t['files_checked']:14,} {t['runs']:11}")
    s3 = part_scale_s3(databases, moto, group, hours, seconds, s3_rate)
    scaled = "" if s3_rate >= live_rate else (f"; scaled down from live pace ({live_rate:g}/s): moto's SQS receive "
                                              "slows with every message queued")
    print(f"   S3 + SQS events (moto), {s3_rate:g} segments/s put ({s3['segments_per_tick']:,} per tick, "
          f"{s3['put_s_per_tick']:.1f} s to put them{scaled}): tick p50 {s3['p50_s']:.2f} s, p95 {s3['p95_s']:.2f} s; "
          f"{s3['left_in_queue']:,} message(s) left in the queue after the last tick")
    print(f"   {'tick':>4} {'put':>6} {'tick s':>7} {'messages':>9} {'keys parsed':>12} {'ReceiveMessage':>15} "
          f"{'DeleteMessageBatch':>19} {'ListObjectsV2':>14} {'left queued':>12}")
    for i, (t, s) in enumerate(zip(s3["counts_per_tick"], s3["tick_s"]), 1):
        print(f"   {i:4} {t['put']:6,} {s:7.2f} {t['messages']:9,} {t['keys_parsed']:12,} {t.get('ReceiveMessage', 0):15,} "
              f"{t.get('DeleteMessageBatch', 0):19,} {t.get('ListObjectsV2', 0):14,} {t['left_in_queue']:12,}")
    rq = s3["requests"]
    print(f"   S3 steady state, {s3['camera_hours']:.1f} camera-hours: {rq.get('ListObjectsV2', 0)} ListObjectsV2 = "
          f"{s3['list_per_camera_hour']:.3f} S3 LIST per camera-hour; {rq.get('ReceiveMessage', 0)} ReceiveMessage + "
          f"{rq.get('DeleteMessageBatch', 0)} DeleteMessageBatch = {s3['sqs_per_camera_hour']:.2f} SQS requests per "
          f"camera-hour at {s3_rate:g} segments/s"
          + (f", {s3['sqs_per_message']:.3f} per message: {s3['sqs_per_camera_hour_live']:.1f} per camera-hour at live "
             "pace (360 segments per camera-hour)" if s3["messages"] else ""))
    print(f"   the bucket holds only the new segments (the history is in the inventory only): reconciliation's "
          f"{sum(t['listings'] for t in s3['counts_per_tick'])} prefix listing(s) were of empty prefixes; with the "
          f"whole week in the bucket they would take ~{s3['list_full_bucket_estimate']:,} LIST requests (1,000 keys "
          f"a page) = {s3['list_full_bucket_per_camera_hour']:.2f} per camera-hour")
    return {"local": local, "s3_events": s3}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (3 cameras x 1 day, 50 cameras x 30 s): "
                                                             "checks the bench, not the numbers")
    parser.add_argument("--cameras", type=int, help="part 1's cameras (default 10; --quick 3)")
    parser.add_argument("--days", type=float, help="part 1's long history (default 7; --quick 1)")
    parser.add_argument("--ticks", type=int, default=10, help="part 1's steady-state ticks per history")
    parser.add_argument("--scale-cameras", type=int, help="part 2's cameras (default 1000; --quick 50)")
    parser.add_argument("--scale-hours", type=float, default=2, help="part 2's history")
    parser.add_argument("--scale-seconds", type=float, help="part 2's live seconds (default 300; --quick 30)")
    parser.add_argument("--s3-rate", type=float, help="part 2's segments/s put to S3 (default: live pace, at most 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    camera_count = args.cameras or (3 if args.quick else 10)
    days = args.days or (1 if args.quick else 7)
    scale_cameras = args.scale_cameras or (50 if args.quick else 1000)
    scale_seconds = args.scale_seconds or (30 if args.quick else 300)
    s3_rate = args.s3_rate or min(5.0, scale_cameras / SEGMENT.total_seconds())
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    work = OUT / "ingest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    databases, moto = Databases(), Moto()
    started = time.perf_counter()
    try:
        results = {"history": part_history(databases, moto, work, camera_count, days, args.ticks),
                   "scale": part_scale(databases, moto, work, scale_cameras, args.scale_hours, scale_seconds, s3_rate)}
    finally:
        moto.close()
        databases.close()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started)
    server = conninfo_to_dict(databases.server)
    print(f"\n({results['seconds']} s in all; PostgreSQL at {server.get('host', '?')}:{server.get('port', 5432)}, "
          f"databases {DATABASE}_* dropped, files removed)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
