"""Queries on `clip_store_problems` (db/migrations/008): keys and folders of the store the pipeline cannot use,
each recorded once."""

from collections.abc import Iterable

import psycopg

from roz_pipeline.storage.inventory import after_prefix


def record_problems(conn: psycopg.Connection, store: str,
                    problems: Iterable[tuple[str, str | None, str]]) -> list[tuple[str, str]]:
    """Record problems (key, camera name or None, message); (key, message) of those not recorded before."""
    problems = list(dict((key, (key, camera, message)) for key, camera, message in problems).values())
    if not problems:
        return []
    return [(key, message) for key, message in conn.execute(
        """
        INSERT INTO clip_store_problems (store, clip_key, camera_name, message)
        SELECT %s, p.key, p.camera_name, p.message FROM unnest(%s::text[], %s::text[], %s::text[])
            AS p(key, camera_name, message)
        ON CONFLICT (store, clip_key) DO NOTHING
        RETURNING clip_key, message
        """,
        (store, [p[0] for p in problems], [p[1] for p in problems], [p[2] for p in problems]),
    )]


def clear_problems(conn: psycopg.Connection, store: str, keys: Iterable[str]) -> None:
    """The problems of `keys` are over (the key is gone, or was fixed)."""
    keys = list(keys)
    if keys:
        conn.execute("DELETE FROM clip_store_problems WHERE store = %s AND clip_key = ANY(%s)", (store, keys))


def problems_under(conn: psycopg.Connection, store: str, prefixes: Iterable[str], direct: bool = False) -> set[str]:
    """The keys with a recorded problem under any of `prefixes` (`direct`: directly in the prefix's folder)."""
    low = sorted(set(prefixes))
    if not low:
        return set()
    return {key for (key,) in conn.execute(
        """
        SELECT q.clip_key FROM unnest(%s::text[], %s::text[]) AS p(low, high)
        CROSS JOIN LATERAL (
            SELECT clip_key FROM clip_store_problems
            WHERE store = %s AND clip_key >= p.low COLLATE "C" AND clip_key < p.high COLLATE "C"
            OFFSET 0
        ) AS q
        WHERE NOT %s OR strpos(rtrim(substr(q.clip_key, length(p.low) + 1), '/'), '/') = 0
        """,
        (low, [after_prefix(p) for p in low], store, direct),
    )}


def open_problems(conn: psycopg.Connection, store: str, camera_names: list[str], limit: int) -> tuple[list[str], int]:
    """(the first `limit` messages, how many) of the problems still open: a problem of an unregistered camera ends
    when `camera_names` includes it."""
    rows = conn.execute(
        """
        SELECT message, count(*) OVER () FROM clip_store_problems
        WHERE store = %s AND (camera_name IS NULL OR camera_name <> ALL(%s))
        ORDER BY first_seen, clip_key LIMIT %s
        """,
        (store, camera_names, limit),
    ).fetchall()
    return [message for message, _ in rows], (rows[0][1] if rows else 0)
