"""Queries on `clip_folders` (db/migrations/008): the watermark of each local folder listed (its mtime and ctime
at the listing, and a summary of its names)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from roz_pipeline.storage.inventory import after_prefix


@dataclass(frozen=True)
class FolderMark:
    """A local folder's stat when it was last listed, and what it held then (None: not known)."""

    folder: str
    mtime_ns: int
    ctime_ns: int
    listed_at: datetime
    file_count: int | None = None
    last_file: str | None = None
    files_digest: str | None = None


_MARK_COLUMNS = "folder, mtime_ns, ctime_ns, listed_at, file_count, last_file, files_digest"


def folder_marks(conn: psycopg.Connection, store: str, folders: Iterable[str]) -> dict[str, FolderMark]:
    rows = conn.execute(
        f"SELECT {_MARK_COLUMNS} FROM clip_folders WHERE store = %s AND folder = ANY(%s)",
        (store, list(folders)),
    ).fetchall()
    return {row[0]: FolderMark(*row) for row in rows}


def folder_marks_under(conn: psycopg.Connection, store: str, prefixes: Iterable[str]) -> dict[str, FolderMark]:
    """The marks of the folders under any of `prefixes` (the prefix's own folder included)."""
    low = sorted(set(prefixes))
    if not low:
        return {}
    rows = conn.execute(
        f"""
        SELECT f.* FROM unnest(%s::text[], %s::text[]) AS p(low, high)
        CROSS JOIN LATERAL (
            SELECT {_MARK_COLUMNS} FROM clip_folders
            WHERE store = %s AND folder >= p.low COLLATE "C" AND folder < p.high COLLATE "C"
            OFFSET 0
        ) AS f
        """,
        (low, [after_prefix(p) for p in low], store),
    ).fetchall()
    return {row[0]: FolderMark(*row) for row in rows}


def forget_folders(conn: psycopg.Connection, store: str, folders: Iterable[str]) -> None:
    """The folders are gone from the store."""
    folders = list(folders)
    if folders:
        conn.execute("DELETE FROM clip_folders WHERE store = %s AND folder = ANY(%s)", (store, folders))


def save_folder_marks(conn: psycopg.Connection, store: str, marks: list[FolderMark]) -> None:
    if not marks:
        return
    conn.execute(
        """
        INSERT INTO clip_folders (store, folder, mtime_ns, ctime_ns, listed_at, file_count, last_file, files_digest)
        SELECT %s, m.* FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::int[], %s::text[],
                                   %s::text[]) AS m(folder, mtime_ns, ctime_ns, listed_at, file_count, last_file,
                                                   files_digest)
        ON CONFLICT (store, folder) DO UPDATE SET
            mtime_ns = EXCLUDED.mtime_ns, ctime_ns = EXCLUDED.ctime_ns, listed_at = EXCLUDED.listed_at,
            file_count = EXCLUDED.file_count, last_file = EXCLUDED.last_file, files_digest = EXCLUDED.files_digest
        """,
        (store, [m.folder for m in marks], [m.mtime_ns for m in marks], [m.ctime_ns for m in marks],
         [m.listed_at for m in marks], [m.file_count for m in marks], [m.last_file for m in marks],
         [m.files_digest for m in marks]),
    )
