"""The world bench/ingest.py simulates: a clock, cameras, Frigate segments laid as placeholder files, the ticks and
reads of new_clips_sensor, its counts, and the throw-away databases."""

import contextlib
import gc
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from common import fresh_database, server_url
from psycopg import sql

from roz_pipeline.clips.catalog import ClipCatalog
from roz_pipeline.clips.discovery import DiscoveryCounts
from roz_pipeline.clips.folder_discovery import FolderDiscovery
from roz_pipeline.clips.inventory import ClipInventory
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.core.timesteps import DAY, HOUR, floor
from roz_pipeline.registry import Camera
from roz_pipeline.settings import migrations_dir
from roz_pipeline.storage import inventory
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.usecases.live import SETTLE
from roz_pipeline.usecases.new_clips import NewClipsCursor, PartitionSlot, scan_new_clips

DATABASE = "roz_bench_ingest"
FRIGATE = ClipLayout.from_setting("frigate")
SEGMENT = timedelta(seconds=10)
SEGMENTS_PER_HOUR = 360
LATE_WINDOW = 7 * DAY  # ROZ_LATE_CLIP_DAYS' default
RECONCILE_HOURS = 6  # ROZ_RECONCILE_HOURS' default
MAX_PARTITIONS = 50  # ROZ_MAX_RUNS_PER_TICK's default x 1 partition per run (hour grain)
SENSOR_INTERVAL = timedelta(seconds=30)  # ROZ_SENSOR_INTERVAL_SECONDS' default
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


def site_registry(path: Path, cameras: int, per_site: int) -> Path:
    """`path`: a registry of `cameras` Frigate cameras (cam-N, named CamN in the store) in sites of `per_site`."""
    width = len(str(cameras - 1))
    path.write_text("cameras:\n" + "".join(
        f"  cam-{i:0{width}d}: {{source_name: Cam{i:0{width}d}, site: site_{i // per_site:03d}}}\n"
        for i in range(cameras)))
    return path


def held_and_read(root: Path, cameras: list[Camera], database_url: str, end: datetime, hours: float) -> int:
    """`hours` of every camera's segments up to `end` laid under `root`, taken into the clip inventory of the
    (migrated) database at `database_url` and marked read, as runs would have left them: the segments laid."""
    files = lay(root, every([c.name_in_store for c in cameras], history_starts(end, hours)))
    discovery = FolderDiscovery(ClipCatalog(LocalClipStore(root), ClipLayout.from_setting("frigate"), cameras),
                                6, timedelta(days=7))
    now = datetime.now(timezone.utc)
    with psycopg.connect(database_url, autocommit=True) as conn:
        ids = [c.camera_id for c in cameras]
        scan(discovery, conn, ids, NewClipsCursor(), now)
        read_all(discovery, conn, ids, now)
        conn.execute("VACUUM ANALYZE")
    return files


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


