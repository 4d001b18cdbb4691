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
import contextlib
import gc
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
from roz_pipeline.clips.discovery import DiscoveryCounts, DiscoveryState, Rotation  # noqa: E402
from roz_pipeline.clips.folder_discovery import FolderDiscovery  # noqa: E402
from roz_pipeline.clips.inventory import ClipInventory  # noqa: E402
from roz_pipeline.clips.layout import ClipLayout  # noqa: E402
from roz_pipeline.clips.s3_discovery import EventDiscovery  # noqa: E402
from roz_pipeline.clips.stores import LocalClipStore  # noqa: E402
from roz_pipeline.clips.s3_store import S3ClipStore  # noqa: E402
from roz_pipeline.core.timesteps import DAY, HOUR, MINUTE, floor  # noqa: E402
from roz_pipeline.registry import Camera  # noqa: E402
from roz_pipeline.settings import migrations_dir  # noqa: E402
from roz_pipeline.storage import inventory  # noqa: E402
from roz_pipeline.storage.inventory import ClipRead, StoredClip  # noqa: E402
from roz_pipeline.storage.migrations import Migrator  # noqa: E402
from roz_pipeline.usecases.live import SETTLE  # noqa: E402
from roz_pipeline.usecases.new_clips import (  # noqa: E402
    MAX_REMEMBERED_REQUESTS, NewClipsCursor, PartitionSlot, scan_new_clips)

OUT = Path(__file__).resolve().parent / "out"
DATABASE = "roz_bench_ingest"
FRIGATE = ClipLayout.from_setting("frigate")
SEGMENT = timedelta(seconds=10)
SEGMENTS_PER_HOUR = 360
LATE_WINDOW = 7 * DAY  # ROZ_LATE_CLIP_DAYS' default
RECONCILE_HOURS = 6  # ROZ_RECONCILE_HOURS' default
MAX_PARTITIONS = 50  # ROZ_MAX_RUNS_PER_TICK's default x 1 partition per run (hour grain)
SENSOR_INTERVAL = timedelta(seconds=30)  # ROZ_SENSOR_INTERVAL_SECONDS' default
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
PREFIX = "site-a"
PUT_THREADS = 8
PREFILL_BATCH = 50_000
MAX_BACKLOG_TICKS = 30
COUNTED = ("folders_checked", "listings", "keys_parsed", "files_checked", "messages", "changed", "gone",
           "reconciled")


# -- the simulated clock, cameras and segments ------------------------------------------------------------------

class Clock:
    """The simulated now, also the discoveries' wall clock. It starts hours ahead of the real one, so the folders'
    real ctimes (written just now) always read as older than a listing."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def start_clock(minute: int, second: int = 5) -> Clock:
    return Clock(floor(datetime.now(timezone.utc), HOUR) + 3 * HOUR + timedelta(minutes=minute, seconds=second))


def cameras(count: int) -> list[Camera]:
    width = max(2, len(str(count - 1)))
    return [Camera(f"cam-{i:0{width}d}", source_name=f"Cam{i:0{width}d}") for i in range(count)]


def history_starts(now: datetime, hours: float) -> list[datetime]:
    """The starts of the 10 s segments ending in the last `hours` up to `now`."""
    since = now - timedelta(hours=hours)
    moment, end = floor(since, SEGMENT), now - SEGMENT
    moment += SEGMENT if moment + SEGMENT <= since else timedelta(0)
    result = []
    while moment <= end:
        result.append(moment)
        moment += SEGMENT
    return result


def every(names: list[str], starts: list[datetime]) -> list[tuple[str, datetime]]:
    """Each camera's segment at each start, start after start (the order they land)."""
    return [(name, start) for start in starts for name in names]


def live_segments(names: list[str], first: datetime):
    """Every camera's segments from `first` on, in the order they land, without end."""
    moment = first
    while True:
        for name in names:
            yield name, moment
        moment += SEGMENT


def keys(segments) -> list[str]:
    """Each (camera name, start)'s key under the layout, formatted once per start (strftime costs more than
    creating the file)."""
    patterns: dict[datetime, str] = {}
    result = []
    for name, start in segments:
        if start not in patterns:
            patterns[start] = FRIGATE.key("\0", start)
        result.append(patterns[start].replace("\0", name))
    return result


def lay(root: Path, segments) -> int:
    """Placeholder segments, each (camera name, start): an empty file whose mtime is the segment's end, as a
    recorder leaves it. The number of files."""
    segments = list(segments)
    made = set()
    for (_, start), key in zip(segments, keys(segments)):
        path = root / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        end_ns = int((start + SEGMENT).timestamp()) * 1_000_000_000
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.utime(fd, ns=(end_ns, end_ns))
        finally:
            os.close(fd)
    return len(segments)


# -- ticks, reads, counts ---------------------------------------------------------------------------------------

def slot(camera_id: str, moment: datetime) -> PartitionSlot:
    hour = floor(moment, HOUR)
    return PartitionSlot(f"{hour:%Y-%m-%d-%H:%M}", hour, hour + HOUR)


def scan(discovery, conn, camera_ids: list[str], cursor: NewClipsCursor, now: datetime):
    return scan_new_clips(discovery, conn, camera_ids, cursor, slot, "hour", now, SETTLE, MAX_PARTITIONS)


def read_all(discovery, conn, camera_ids: list[str], now: datetime) -> int:
    """As if runs had read every clip held (to its end); how many."""
    clips = ClipInventory(discovery, conn, clock=lambda: now).clips_starting(camera_ids, now - LATE_WINDOW - HOUR,
                                                                            now + HOUR)
    reads = {clip.key: (clip.version, None) for listed in clips.clips.values() for clip in listed}
    ClipInventory(discovery, conn).mark_read(reads)
    return len(reads)


def read_landed(discovery, conn, names: list[str], segments: list[tuple[str, datetime]]) -> None:
    """As the run following the hour would: the segments just landed read to their end (their versions straight
    from the inventory, no look at the store)."""
    starts = [start for _, start in segments]
    rows = inventory.clips_starting(conn, discovery.store_id, names, min(starts), max(starts) + SEGMENT)
    ClipInventory(discovery, conn).mark_read({row.key: (row.version, None) for row in rows})


def vacuum(conn) -> float:
    """What autovacuum does soon after a bulk change: dead rows gone, statistics current. Seconds taken."""
    started = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) clip_inventory, clip_folders, clip_store_problems")
    return time.perf_counter() - started


def quiet(conn) -> None:
    """Before timing ticks: the set-up's bulk writes out of the way (files synced, a checkpoint, garbage
    collected), so that they do not land in the ticks measured."""
    gc.collect()
    os.sync()
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # CHECKPOINT needs a superuser: optional
        conn.execute("CHECKPOINT")


def counted(counts: DiscoveryCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in COUNTED}


def delta(after: dict, before: dict) -> dict:
    return {name: after[name] - before[name] for name in after}


def cursor_bytes(cursor: NewClipsCursor) -> int:
    return len(json.dumps(cursor.to_json()))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def history_label(hours: float) -> str:
    return f"{hours / 24:g} d" if hours >= 24 else f"{hours:g} h"


# -- databases and moto -----------------------------------------------------------------------------------------

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


class Requests:
    """Botocore hooks counting HTTP requests by operation (`before-send`) and the seconds spent waiting on them
    (until `response-received`); the clients' requests are sequential."""

    def __init__(self):
        self.counts = Counter()
        self.waited = 0.0
        self._sent_at = None

    def __call__(self, event_name: str = "", **kwargs):
        self.counts[event_name.rsplit(".", 1)[-1]] += 1  # before-send.<service>.<Operation>
        self._sent_at = time.perf_counter()
        return None  # no response of our own: the request is sent

    def received(self, **kwargs) -> None:
        if self._sent_at is not None:
            self.waited += time.perf_counter() - self._sent_at
            self._sent_at = None

    def snapshot(self) -> Counter:
        return Counter(self.counts)


class Moto:
    """moto's S3 + SQS server in this process; bucket() makes a bucket whose object notifications go to a queue."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # else an access-log line per request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.buckets = 0
        self.sqs = self.client("sqs")

    def client(self, service: str, counter: Requests | None = None):
        client = boto3.client(service, endpoint_url=self.endpoint,
                              config=Config(max_pool_connections=2 * PUT_THREADS), **CREDENTIALS)
        if counter is not None:
            client.meta.events.register("before-send", counter)
            client.meta.events.register("response-received", counter.received)
        return client

    def bucket(self) -> tuple[str, str]:
        """(bucket, queue URL): a fresh bucket notifying a fresh queue of every object created or removed (as
        roz_pipeline_tests/test_clip_inventory.py sets it up)."""
        self.buckets += 1
        bucket, s3 = f"roz-bench-{self.buckets}", self.client("s3")
        s3.create_bucket(Bucket=bucket)
        queue = self.sqs.create_queue(QueueName=f"roz-bench-clips-{self.buckets}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
        return bucket, queue

    def queued(self, queue: str) -> int:
        """Messages in the queue, in flight included (not counted as requests of the discovery)."""
        found = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return int(found["ApproximateNumberOfMessages"]) + int(found["ApproximateNumberOfMessagesNotVisible"])

    def close(self) -> None:
        self.server.stop()


def events_discovery(moto: Moto, group: list[Camera], clock: Clock) -> tuple[EventDiscovery, Requests, str, str]:
    """(discovery, its request counter, bucket, queue) over a fresh bucket with notifications."""
    bucket, queue = moto.bucket()
    requests = Requests()
    catalog = ClipCatalog(S3ClipStore(moto.client("s3", requests), bucket, PREFIX), FRIGATE, group)
    discovery = EventDiscovery(catalog, RECONCILE_HOURS, LATE_WINDOW, moto.client("sqs", requests), queue, clock)
    return discovery, requests, bucket, queue


def put_segments(client, bucket: str, segments: list[tuple[str, datetime]]) -> float:
    """Put each (camera name, start) as an empty object, each put sending an event; seconds taken."""
    started = time.perf_counter()
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=b""),
                      keys(segments)))
    return time.perf_counter() - started


def prefill(conn, store_id: str, names: list[str], starts: list[datetime], observed_at: datetime) -> int:
    """The history as inventory rows (upsert_clips, as if discovered), read to their end; the number of rows."""
    segments = every(names, starts)
    for first in range(0, len(segments), PREFILL_BATCH):
        part = segments[first:first + PREFILL_BATCH]
        clips = [StoredClip(key, name, start, 0, "prefilled", start + SEGMENT)
                 for (name, start), key in zip(part, keys(part))]
        inventory.upsert_clips(conn, store_id, clips, observed_at)
        inventory.mark_read(conn, store_id, [ClipRead(clip.key, clip.version, None) for clip in clips])
    return len(segments)


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
    return results


# -- 2. scale ---------------------------------------------------------------------------------------------------

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

        ticks = int(seconds // SENSOR_INTERVAL.total_seconds())
        pending = live_segments(names, history[-1] + SEGMENT)
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
        result.update({"ticks": ticks, "landed": sum(t["landed"] for t in per_tick), "tick_s": samples,
                       "p50_s": statistics.median(samples), "p95_s": percentile(samples, 0.95),
                       "cursor_bytes_max": max(cursors), "counts_per_tick": per_tick,
                       "landing_s_per_tick": statistics.median(land_s)})

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
