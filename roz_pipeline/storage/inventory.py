"""Queries on the clip inventory (`clip_inventory`: db/migrations/008, by day of clip_start since 014; its problems
and folder marks: storage/clip_problems.py, storage/clip_folders.py).

Keys are compared byte-wise (the columns are COLLATE "C"), so "every key under a prefix" is a range of the primary
key. All statements are parameterized; every batch is one statement over arrays (unnest), whatever its size.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg

from roz_pipeline.storage.partitions import INVENTORY_TABLES, ensure_day_partitions


@dataclass(frozen=True)
class StoredClip:
    """One clip as the store has it (a listing or an event)."""

    key: str
    camera_name: str  # the camera's name in the key
    start: datetime
    size: int | None
    version: str  # ETag, or mtime_ns:size
    modified_at: datetime


@dataclass(frozen=True)
class InventoryClip:
    """An inventory row: a clip the store holds, and how much of its version was read."""

    key: str
    camera_name: str
    start: datetime
    size: int | None
    version: str
    modified_at: datetime
    unread: bool


@dataclass(frozen=True)
class ClipRead:
    """How much of a clip's version a run read: to `until` (recording time), or to its end (None)."""

    key: str
    version: str
    until: datetime | None


@dataclass(frozen=True)
class UnreadPeriod:
    """A period (hour or minute, UTC) of a camera holding unread footage."""

    camera_name: str
    start: datetime
    clips: int
    first_key: str


_CLIP_COLUMNS = "clip_key, camera_name, clip_start, size_bytes, version, modified_at, unread"


def upsert_clips(conn: psycopg.Connection, store: str, clips: list[StoredClip], observed_at: datetime) -> list[str]:
    """Record `clips` as seen at `observed_at`; the keys that were new, changed or back (an older observation
    than the stored one changes nothing)."""
    if not clips:
        return []
    ensure_day_partitions(conn, {c.start.astimezone(timezone.utc).date() for c in clips}, INVENTORY_TABLES)
    return [key for (key,) in conn.execute(
        """
        WITH incoming AS (
            SELECT * FROM unnest(%(keys)s::text[], %(names)s::text[], %(starts)s::timestamptz[], %(sizes)s::bigint[],
                                 %(versions)s::text[], %(modified)s::timestamptz[])
                AS c(key, camera_name, start, size, version, modified_at)
        ), moved AS (  -- a key the layout now dates otherwise (a camera's time zone changed) keeps one row
            DELETE FROM clip_inventory AS stored USING incoming AS c
            WHERE stored.store = %(store)s AND stored.clip_key = c.key AND stored.clip_start <> c.start
        )
        INSERT INTO clip_inventory AS stored (
            store, clip_key, camera_name, clip_start, size_bytes, version, modified_at, observed_at)
        SELECT %(store)s, c.key, c.camera_name, c.start, c.size, c.version, c.modified_at, %(observed_at)s
        FROM incoming AS c
        ON CONFLICT (store, clip_key, clip_start) DO UPDATE SET
            camera_name = EXCLUDED.camera_name,
            size_bytes = EXCLUDED.size_bytes,
            version = EXCLUDED.version,
            modified_at = EXCLUDED.modified_at,
            observed_at = EXCLUDED.observed_at,
            gone_at = NULL,
            read_version = CASE WHEN stored.gone_at IS NULL THEN stored.read_version END,  -- back: read it again
            read_until = CASE WHEN stored.gone_at IS NULL THEN stored.read_until END
        WHERE stored.observed_at <= EXCLUDED.observed_at
          AND (stored.version <> EXCLUDED.version OR stored.gone_at IS NOT NULL)
        RETURNING clip_key
        """,
        {"store": store, "observed_at": observed_at, "keys": [c.key for c in clips],
         "names": [c.camera_name for c in clips], "starts": [c.start for c in clips], "sizes": [c.size for c in clips],
         "versions": [c.version for c in clips], "modified": [c.modified_at for c in clips]},
    )]


def mark_gone(conn: psycopg.Connection, store: str, keys: Iterable[str], observed_at: datetime) -> list[str]:
    """The store no longer holds `keys` (as seen at `observed_at`); the keys that were there until now."""
    keys = list(keys)
    if not keys:
        return []
    return [key for (key,) in conn.execute(
        """
        UPDATE clip_inventory SET gone_at = %s, observed_at = %s
        WHERE store = %s AND clip_key = ANY(%s) AND gone_at IS NULL AND observed_at <= %s
        RETURNING clip_key
        """,
        (observed_at, observed_at, store, keys, observed_at),
    )]


def keys_under(conn: psycopg.Connection, store: str, prefixes: Iterable[str],
               direct: bool = False) -> dict[str, tuple[str, datetime]]:
    """The clips held under any of `prefixes` (`direct`: only those directly in the prefix's folder, not in a
    folder below it): key -> (version, modified_at)."""
    low = sorted(set(prefixes))
    if not low:
        return {}
    rows = conn.execute(
        """
        SELECT i.clip_key, i.version, i.modified_at
        FROM unnest(%s::text[], %s::text[]) AS p(low, high)
        CROSS JOIN LATERAL (  -- one range of the primary key per prefix (a join would scan the table)
            SELECT clip_key, version, modified_at FROM clip_inventory
            WHERE store = %s AND clip_key >= p.low COLLATE "C" AND clip_key < p.high COLLATE "C" AND gone_at IS NULL
            OFFSET 0
        ) AS i
        WHERE NOT %s OR strpos(substr(i.clip_key, length(p.low) + 1), '/') = 0
        """,
        (low, [after_prefix(p) for p in low], store, direct),
    ).fetchall()
    return {key: (version, modified) for key, version, modified in rows}


def versions_of(conn: psycopg.Connection, store: str, keys: Iterable[str]) -> dict[str, tuple[str, datetime]]:
    """Those of `keys` the inventory holds: key -> (version, modified_at)."""
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT clip_key, version, modified_at FROM clip_inventory "
        "WHERE store = %s AND clip_key = ANY(%s) AND gone_at IS NULL",
        (store, keys),
    ).fetchall()
    return {key: (version, modified) for key, version, modified in rows}


def modified_since(conn: psycopg.Connection, store: str, camera_names: list[str],
                   since: datetime) -> dict[str, tuple[str, datetime]]:
    """The cameras' clips held that were modified at or after `since` (perhaps still being written): key ->
    (version, modified_at). Few at any time, whatever the history: an index on modified_at."""
    rows = conn.execute(
        """
        SELECT clip_key, version, modified_at FROM clip_inventory
        WHERE store = %s AND camera_name = ANY(%s) AND modified_at >= %s AND gone_at IS NULL
        """,
        (store, camera_names, since), prepare=False,  # a generic plan of a prepared statement scans the table
    ).fetchall()
    return {key: (version, modified) for key, version, modified in rows}


def clips_starting(conn: psycopg.Connection, store: str, camera_names: list[str], start: datetime,
                   end: datetime) -> list[InventoryClip]:
    """The cameras' clips held with `start <= clip_start < end`, by start then key."""
    rows = conn.execute(
        f"""
        SELECT {_CLIP_COLUMNS} FROM clip_inventory
        WHERE store = %s AND camera_name = ANY(%s) AND clip_start >= %s AND clip_start < %s AND gone_at IS NULL
        ORDER BY clip_start, clip_key
        """,
        (store, camera_names, start, end),
    ).fetchall()
    return [InventoryClip(*row) for row in rows]


def last_clips_before(conn: psycopg.Connection, store: str, camera_names: list[str], since: datetime,
                      before: datetime) -> list[InventoryClip]:
    """Each camera's last clip held with `since <= clip_start < before` (one index step per camera)."""
    rows = conn.execute(
        f"""
        SELECT last.* FROM unnest(%s::text[]) AS camera(name)
        CROSS JOIN LATERAL (
            SELECT {_CLIP_COLUMNS} FROM clip_inventory
            WHERE store = %s AND camera_name = camera.name AND clip_start >= %s AND clip_start < %s
              AND gone_at IS NULL
            ORDER BY clip_start DESC, clip_key DESC LIMIT 1
        ) AS last
        """,
        (camera_names, store, since, before),
    ).fetchall()
    return [InventoryClip(*row) for row in rows]


def unread_periods(conn: psycopg.Connection, store: str, camera_names: list[str], grain: str, since: datetime,
                   before: datetime, reach: datetime, limit: int) -> list[UnreadPeriod]:
    """The periods (`grain`: hour or minute, UTC) in `since <= t < before` where a camera's footage was not read,
    newest first, at most `limit`. A clip's unread footage starts at its start, or where a run stopped reading it
    (read_until); clips starting before `reach` are not looked at. One scan of the unread clips' index."""
    rows = conn.execute(
        """
        SELECT camera_name, date_trunc(%(grain)s, position, 'UTC') AS period, count(*), min(clip_key)
        FROM (
            SELECT camera_name, clip_key,
                   CASE WHEN read_version = version THEN read_until ELSE clip_start END
                       AS position
            FROM clip_inventory
            WHERE store = %(store)s AND unread AND clip_start >= %(reach)s AND clip_start < %(before)s
              AND camera_name = ANY(%(names)s)
        ) AS unread
        WHERE position >= %(since)s AND position < %(before)s
        GROUP BY camera_name, period
        ORDER BY period DESC, camera_name
        LIMIT %(limit)s
        """,
        {"grain": grain, "store": store, "reach": reach, "since": since, "before": before, "names": camera_names,
         "limit": limit}, prepare=False,  # the partial index needs the plan made for these values
    ).fetchall()
    return [UnreadPeriod(*row) for row in rows]


def mark_read(conn: psycopg.Connection, store: str, reads: Iterable[ClipRead]) -> None:
    """Record what runs read; a read of an older version never replaces a read of the current one."""
    reads = list(reads)
    if not reads:
        return
    conn.execute(
        """
        UPDATE clip_inventory AS i SET
            read_until = CASE WHEN i.read_version IS DISTINCT FROM r.version THEN r.until
                              WHEN i.read_until IS NULL OR r.until IS NULL THEN NULL
                              ELSE greatest(i.read_until, r.until) END,
            read_version = r.version,
            read_at = now()
        FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS r(key, version, until)
        WHERE i.store = %s AND i.clip_key = r.key
          AND NOT (i.read_version IS NOT DISTINCT FROM i.version AND r.version <> i.version)
        """,
        ([r.key for r in reads], [r.version for r in reads], [r.until for r in reads], store),
    )


def prune_inventory(conn: psycopg.Connection, before: datetime) -> int:
    """Forget clips that started before `before` and folder watermarks not listed since: past the late window,
    discovery no longer looks there. The number of clips forgotten."""
    deleted = conn.execute("DELETE FROM clip_inventory WHERE clip_start < %s", (before,)).rowcount
    conn.execute("DELETE FROM clip_folders WHERE listed_at < %s", (before,))
    return deleted


def after_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (byte order)."""
    return prefix + "\U0010ffff"
