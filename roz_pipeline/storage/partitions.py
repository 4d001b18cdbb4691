"""Day partitions of `heatmap_minutes`, the tables keyed by its minutes and `clip_inventory` (db/migrations/011-015):
made for the days written and the days ahead, dropped whole (children first) once nothing in them is kept."""

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

import psycopg
from psycopg import sql

DAYS_AHEAD = 7  # the nightly maintenance keeps this many days ahead made, for writers that do not make their own
MINUTE_TABLES = ("heatmap_minutes", "heatmap_minute_sources", "heatmap_minute_cells", "heatmap_region_minutes")
INVENTORY_TABLES = ("clip_inventory",)


def ensure_day_partitions(conn: psycopg.Connection, days: Iterable[date],
                          tables: tuple[str, ...] = MINUTE_TABLES + INVENTORY_TABLES) -> int:
    """Make the partitions of `tables` each UTC day lacks (a day the partition of the rows from before the day
    partitions holds needs none); returns how many days had any made. Cheap when they exist: a catalog lookup a
    table. A writer asks for its own tables alone: discovering clips never waits for a lock on the minute tables."""
    return sum(conn.execute("SELECT heatmap_day_partitions(%s, %s)", (day, list(tables))).fetchone()[0]
               for day in sorted(set(days)))


def ensure_partitions_between(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Make the partitions of every UTC day from `start`'s to `end`'s, for rows written other than through Roz's
    writers (which make their own)."""
    first, last = start.astimezone(timezone.utc).date(), end.astimezone(timezone.utc).date()
    return ensure_day_partitions(conn, (first + timedelta(days=n) for n in range((last - first).days + 1)))


def ensure_days_ahead(conn: psycopg.Connection, today: date, ahead: int = DAYS_AHEAD) -> int:
    """Make today's partitions and those of the `ahead` days after it."""
    return ensure_day_partitions(conn, (today + timedelta(days=n) for n in range(ahead + 1)))


def partitions_of(conn: psycopg.Connection, table: str) -> list[tuple[str, datetime]]:
    """Each partition of `table` (its name) with the end of its range, oldest first; none when it is not
    partitioned (a database migrated before 014)."""
    if conn.execute("SELECT to_regprocedure('heatmap_partitions(regclass)')").fetchone()[0] is None:
        return []
    return conn.execute(
        """
        SELECT c.relname, p.to_time FROM heatmap_partitions(%s::regclass) p JOIN pg_class c ON c.oid = p.partition
        ORDER BY p.to_time
        """,
        (table,),
    ).fetchall()


def expired_partitions(conn: psycopg.Connection, table: str, cutoff: datetime,
                       kept_cameras: Iterable[str] = ()) -> list[str]:
    """The partitions of `table` (heatmap_minutes or clip_inventory) that end at or before `cutoff` and hold no row
    of `kept_cameras` (camera_id; heatmap_minutes only)."""
    kept = list(kept_cameras)
    return [name for name, to_time in partitions_of(conn, table) if to_time <= cutoff and not (kept and conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE camera_id = ANY(%s))").format(sql.Identifier(name)), (kept,),
    ).fetchone()[0])]


def minutes_by_camera(conn: psycopg.Connection, partition: str) -> dict[str, int]:
    """The minutes a heatmap_minutes partition holds, per camera."""
    return dict(conn.execute(
        sql.SQL("SELECT camera_id, count(*) FROM {} GROUP BY camera_id").format(sql.Identifier(partition))).fetchall())


def rows_in(conn: psycopg.Connection, partition: str) -> int:
    """How many rows a partition holds."""
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(partition))).fetchone()[0]


def drop_partition(conn: psycopg.Connection, name: str) -> None:
    """Detach (CONCURRENTLY: readers and writers of the parents go on) and drop a partition, the partitions that
    reference it first. Needs an autocommit connection as the tables' owner. A detach interrupted before is
    finished first."""
    children = [row[0] for row in conn.execute(
        """
        SELECT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.contype = 'f' AND k.confrelid = %s::regclass
        """,
        (name,),
    ).fetchall()]
    for table in [*children, name]:
        parent = conn.execute(
            """
            SELECT p.relname, i.inhdetachpending FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
            WHERE i.inhrelid = %s::regclass
            """,
            (table,),
        ).fetchone()
        if parent is not None:
            finish = sql.SQL("FINALIZE" if parent[1] else "CONCURRENTLY")
            conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {} {}").format(
                sql.Identifier(parent[0]), sql.Identifier(table), finish))
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
