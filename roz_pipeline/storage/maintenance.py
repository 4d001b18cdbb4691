"""Maintenance statements: batched retention deletes, table statistics, VACUUM (ANALYZE) and the WAL a step wrote."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from roz_pipeline.registry import check_camera_id


def delete_expired(conn: psycopg.Connection, camera_id: str, retention_days: int, batch_size: int = 5000,
                   lock_timeout: str | None = None, now: datetime | None = None) -> int:
    """Delete the camera's rows older than `retention_days` (>= 1) before `now` (default: the server's clock),
    committing every batch; returns rows deleted.

    Needs an autocommit connection (each batch is a statement of its own). With `lock_timeout`, a batch gives up (and
    the call fails) rather than wait longer than that for a row a writer holds.
    """
    if lock_timeout:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
    cutoff = conn.execute("SELECT heatmap_retention_cutoff(%s)", (retention_days,)).fetchone()[0]  # checks the window
    if now is not None:
        cutoff = now - timedelta(days=retention_days)
    deleted = 0
    while True:
        batch = conn.execute("SELECT heatmap_delete_batch(%s, %s, %s)",
                             (cutoff, check_camera_id(camera_id), batch_size)).fetchone()[0]
        deleted += batch
        if batch < batch_size:
            return deleted


@dataclass(frozen=True)
class TableStats:
    total_bytes: int
    live_rows: int
    dead_rows: int


VACUUMED_TABLES = ("heatmap_minutes", "heatmap_rollups", "heatmap_minute_sources", "heatmap_region_minutes",
                   "heatmap_minute_cells", "clip_inventory")


# The tables holding a table's rows (`%(table)s`): itself when it is a plain table, else its leaf partitions.
ROW_HOLDERS = """
    SELECT oid AS relid FROM pg_class WHERE oid = %(table)s::regclass AND relkind = 'r'
    UNION ALL
    SELECT relid FROM pg_partition_tree(%(table)s::regclass) WHERE isleaf
"""


def table_stats(conn: psycopg.Connection, table: str = "heatmap_minutes") -> TableStats:
    """Size on disk (with TOAST and indexes) and live/dead tuple counts of one of the VACUUMED_TABLES, its
    partitions' summed when it is partitioned."""
    if table not in VACUUMED_TABLES:
        raise ValueError(f"not a heatmap table: {table!r}")
    row = conn.execute(
        f"""
        SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint, coalesce(sum(s.n_live_tup), 0)::bigint,
               coalesce(sum(s.n_dead_tup), 0)::bigint
        FROM ({ROW_HOLDERS}) AS t LEFT JOIN pg_stat_user_tables s ON s.relid = t.relid
        """,
        {"table": table},
    ).fetchone()
    return TableStats(*row)


def tables_to_vacuum(conn: psycopg.Connection) -> list[str]:
    """The tables holding the VACUUMED_TABLES' rows that changed since their last VACUUM or ANALYZE, or never had
    one: of a partitioned table, the days written or deleted from (the late-clip window), not the days kept."""
    changed = []
    for table in VACUUMED_TABLES:
        changed += [row[0] for row in conn.execute(
            f"""
            SELECT c.relname
            FROM ({ROW_HOLDERS}) AS t JOIN pg_class c ON c.oid = t.relid
            LEFT JOIN pg_stat_user_tables s ON s.relid = t.relid
            WHERE s.relid IS NULL OR s.n_dead_tup > 0 OR s.n_mod_since_analyze > 0 OR s.n_ins_since_vacuum > 0
               OR coalesce(s.last_vacuum, s.last_autovacuum) IS NULL
            ORDER BY c.relname
            """,
            {"table": table},
        ).fetchall()]
    return changed


def vacuum_analyze(conn: psycopg.Connection) -> list[str]:
    """VACUUM (ANALYZE) what changed of the heatmap tables (`tables_to_vacuum`); `conn` must be in autocommit mode.
    Statistics read after it are fresh. Returns the tables vacuumed.

    Raises PermissionError when the user does not own them: PostgreSQL would skip a table with a mere warning.
    """
    tables = tables_to_vacuum(conn)
    not_owned = conn.execute(
        """
        SELECT string_agg(relname || ' (owner ' || pg_get_userbyid(relowner) || ')', ', ')
        FROM pg_class
        WHERE oid = ANY(%s::regclass[]) AND NOT pg_has_role(current_user, relowner, 'MEMBER')
        """,
        (list(VACUUMED_TABLES),),
    ).fetchone()[0]
    if not_owned:
        raise PermissionError(f"VACUUM needs the tables' owner: {not_owned}; connect as that role")
    if tables:
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return tables


def wal_position(conn: psycopg.Connection) -> str:
    """Where the server's write-ahead log stands now (an LSN)."""
    return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])


def wal_bytes_since(conn: psycopg.Connection, position: str) -> int:
    """The WAL the server wrote since `position`: every session's, so a step's own only when it runs alone."""
    return int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", (position,)).fetchone()[0])


def stored_cameras(conn: psycopg.Connection) -> dict[str, int]:
    """Every camera with minutes stored, and how many: one index step per camera (a skip scan), not a table scan
    for the list."""
    return dict(conn.execute(
        """
        WITH RECURSIVE cameras AS (
            SELECT min(camera_id) AS camera FROM heatmap_minutes
            UNION ALL
            SELECT (SELECT min(h.camera_id) FROM heatmap_minutes h WHERE h.camera_id > cameras.camera)
            FROM cameras WHERE cameras.camera IS NOT NULL
        )
        SELECT cameras.camera, (SELECT count(*) FROM heatmap_minutes h WHERE h.camera_id = cameras.camera)
        FROM cameras WHERE cameras.camera IS NOT NULL
        """
    ).fetchall())
