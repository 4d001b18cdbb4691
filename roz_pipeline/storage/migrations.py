"""A migration runner for `db/migrations/NNN_name.sql`, with Flyway's safety rules.

- Each file runs in its own transaction together with its history row, so a crash leaves nothing half-applied.
- A file containing the line `-- roz:no-transaction` holds exactly one statement and runs outside a transaction
  (`CREATE INDEX CONCURRENTLY`); an INVALID index left by an interrupted attempt is dropped before the retry.
  Transaction control, VACUUM and CONCURRENTLY in an ordinary file are refused before anything runs.
- Applied files are checksummed (sha256); an edited applied file stops the runner until `repair`.
- One runner at a time per database: an advisory lock taken by polling `pg_try_advisory_lock` on a dedicated
  connection (a waiter blocked in `pg_advisory_lock` deadlocks with `CREATE INDEX CONCURRENTLY`), after which
  the history is read again.
"""

import getpass
import hashlib
import logging
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from roz_pipeline.storage.connection import connect, postgres_bin_dir

log = logging.getLogger(__name__)

HISTORY_TABLE = "roz_schema_history"
NO_TRANSACTION_MARKER = "-- roz:no-transaction"
FILENAME_PATTERN = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock keys are bigints; this one is "roz_migr" in ASCII.
ADVISORY_LOCK_KEY = int.from_bytes(b"roz_migr", "big") & 0x7FFF_FFFF_FFFF_FFFF

# Statements that cannot run inside the runner's transaction, by their leading words.
_TRANSACTION_CONTROL = ("BEGIN", "START TRANSACTION", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT",
                        "RELEASE", "PREPARE TRANSACTION", "COMMIT PREPARED", "ROLLBACK PREPARED")
_NEEDS_AUTOCOMMIT = ("VACUUM", "CREATE DATABASE", "DROP DATABASE", "ALTER SYSTEM", "CREATE TABLESPACE",
                     "DROP TABLESPACE", "REINDEX DATABASE", "REINDEX SYSTEM")
_CONCURRENTLY = re.compile(r"^(CREATE (UNIQUE )?INDEX|DROP INDEX|REINDEX)\b.*\bCONCURRENTLY\b")
_CREATE_INDEX_CONCURRENTLY = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|[\w$]+)", re.IGNORECASE
)


class MigrationError(Exception):
    """A migration could not be applied, or the migrations on disk disagree with the database."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str
    checksum: str
    transactional: bool


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    filename: str
    checksum: str
    applied_at: datetime
    execution_ms: int
    applied_by: str


@dataclass(frozen=True)
class MigrationState:
    version: int
    filename: str
    state: str  # "applied", "pending", "edited" (applied, file changed since), "missing" (applied, file gone)
    applied_at: datetime | None


def load_migrations(directory: Path) -> list[Migration]:
    """The migrations in `directory`, ordered by version, each checked for statements it may not hold. A missing
    or empty folder is an error: "up to date" against no migrations would hide a broken install."""
    paths = sorted(Path(directory).glob("*.sql"))
    if not paths:
        state = "holds no .sql file" if Path(directory).is_dir() else "does not exist"
        raise MigrationError(f"migrations folder {directory} {state} (set ROZ_MIGRATIONS_DIR, or reinstall Roz)")
    migrations: dict[int, Migration] = {}
    for path in paths:
        match = FILENAME_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} is also {migrations[version].filename}")
        text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
        transactional = not any(line.strip() == NO_TRANSACTION_MARKER for line in text.splitlines())
        migration = Migration(version, path.name, text, hashlib.sha256(text.encode()).hexdigest(), transactional)
        check_statements(migration)
        migrations[version] = migration
    return [migrations[v] for v in sorted(migrations)]


def check_statements(migration: Migration) -> None:
    """Refuse statements that would escape or break the runner's transaction handling."""
    statements = split_statements(migration.sql)
    if not migration.transactional:
        if len(statements) != 1:
            raise MigrationError(
                f"{migration.filename}: a {NO_TRANSACTION_MARKER} file must hold exactly one statement "
                f"(found {len(statements)}); put the others in their own files"
            )
        return
    for statement in statements:
        words = " ".join(_strip_comments(statement).upper().split()) + " "
        if words.startswith(tuple(keyword + " " for keyword in _TRANSACTION_CONTROL)):
            raise MigrationError(
                f"{migration.filename}: '{words.strip()[:40]}' controls the transaction; the runner already runs "
                "each file in one transaction, remove it"
            )
        if words.startswith(tuple(keyword + " " for keyword in _NEEDS_AUTOCOMMIT)) or _CONCURRENTLY.match(words):
            raise MigrationError(
                f"{migration.filename}: '{words.strip()[:40]}' cannot run inside a transaction; move it to a file "
                f"of its own that starts with the line '{NO_TRANSACTION_MARKER}'"
            )


def split_statements(sql_text: str) -> list[str]:
    """Split SQL on top-level semicolons, skipping quotes, dollar-quoted bodies and comments."""
    statements, start, i, n = [], 0, 0, len(sql_text)
    while i < n:
        c = sql_text[i]
        if sql_text.startswith("--", i):
            i = _find_end(sql_text, "\n", i + 2)
        elif sql_text.startswith("/*", i):
            i = _find_end(sql_text, "*/", i + 2)
        elif c in ("'", '"'):
            i = _find_end(sql_text, c, i + 1)
            while i < n and sql_text[i] == c:  # doubled quote inside the literal
                i = _find_end(sql_text, c, i + 1)
        elif c == "$" and (tag := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql_text[i:])):
            i = _find_end(sql_text, tag.group(0), i + len(tag.group(0)))
        elif c == ";":
            statements.append(sql_text[start:i])
            start = i = i + 1
        else:
            i += 1
    statements.append(sql_text[start:])
    return [s.strip() for s in statements if _strip_comments(s).strip()]


def _find_end(text: str, terminator: str, start: int) -> int:
    end = text.find(terminator, start)
    return len(text) if end < 0 else end + len(terminator)


def _strip_comments(statement: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", statement, flags=re.DOTALL)


class Migrator:
    """Applies the migrations of `directory` to the database at `url`, one runner at a time."""

    def __init__(
        self,
        url: str,
        directory: Path,
        *,
        lock_wait_seconds: float = 120.0,
        lock_timeout: str = "10s",
        statement_timeout: str = "30min",
    ):
        self.url = url
        self.directory = Path(directory)
        self.lock_wait_seconds = lock_wait_seconds
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout

    # -- reading -------------------------------------------------------------------------------------------

    def applied(self) -> dict[int, AppliedMigration]:
        """The history table's rows by version (empty before the first migration)."""
        with connect(self.url) as conn:
            return self._read_history(conn)

    def status(self) -> list[MigrationState]:
        """Every known version with its state, in order."""
        migrations = {m.version: m for m in load_migrations(self.directory)}
        applied = self.applied()
        states = []
        for version in sorted(migrations.keys() | applied.keys()):
            migration, row = migrations.get(version), applied.get(version)
            if row is None:
                states.append(MigrationState(version, migration.filename, "pending", None))
            elif migration is None:
                states.append(MigrationState(version, row.filename, "missing", row.applied_at))
            elif migration.checksum != row.checksum:
                states.append(MigrationState(version, migration.filename, "edited", row.applied_at))
            else:
                states.append(MigrationState(version, migration.filename, "applied", row.applied_at))
        return states

    def pending(self) -> list[Migration]:
        """The migrations that `migrate` would apply now, after checking the applied ones are unchanged."""
        with connect(self.url) as conn:
            return self._validated_pending(conn, load_migrations(self.directory))

    # -- changing ------------------------------------------------------------------------------------------

    def migrate(self) -> list[Migration]:
        """Apply every pending migration in order; returns those applied (none when up to date).

        Every step calls this before it writes: when the history is current it returns after one read, without the
        lock, so steps never queue behind each other or behind a long migration they do not need.
        """
        migrations = load_migrations(self.directory)
        with connect(self.url) as conn:
            if not self._validated_pending(conn, migrations):
                return []
        applied_now = []
        with self._exclusive() as conn:
            for migration in self._validated_pending(conn, migrations):
                self._apply(conn, migration)
                applied_now.append(migration)
        return applied_now

    def repair(self) -> list[str]:
        """Accept edited applied files: record their current checksums. Returns the filenames realigned."""
        migrations = {m.version: m for m in load_migrations(self.directory)}
        realigned = []
        with self._exclusive() as conn:
            for version, row in self._read_history(conn).items():
                migration = migrations.get(version)
                if migration and migration.checksum != row.checksum:
                    with conn.transaction():
                        conn.execute(
                            f"UPDATE {HISTORY_TABLE} SET checksum = %s, filename = %s WHERE version = %s",
                            (migration.checksum, migration.filename, version),
                        )
                    log.warning("Repaired %s: recorded its current checksum", migration.filename)
                    realigned.append(migration.filename)
        return realigned

    def baseline(self, version: int) -> list[Migration]:
        """Mark migrations up to `version` as applied without running them (a database created by hand)."""
        migrations = [m for m in load_migrations(self.directory) if m.version <= version]
        with self._exclusive() as conn:
            if self._read_history(conn):
                raise MigrationError("baseline is only for a database with no migration history")
            with conn.transaction():
                for migration in migrations:
                    self._record(conn, migration, execution_ms=0)
        return migrations

    # -- internals -----------------------------------------------------------------------------------------

    def _validated_pending(self, conn: psycopg.Connection, migrations: list[Migration]) -> list[Migration]:
        applied = self._read_history(conn)
        by_version = {m.version: m for m in migrations}
        for version, row in applied.items():
            migration = by_version.get(version)
            if migration is None:
                raise MigrationError(
                    f"{row.filename} (version {version}) was applied but is no longer in {self.directory}"
                )
            if migration.checksum != row.checksum:
                raise MigrationError(
                    f"{migration.filename} was edited after it was applied (checksum "
                    f"{row.checksum[:12]}... now {migration.checksum[:12]}...); restore it, or run "
                    "'repair' to accept the edit"
                )
        pending = [m for m in migrations if m.version not in applied]
        newest = max(applied, default=0)
        late = [m.filename for m in pending if m.version < newest]
        if late:
            raise MigrationError(
                f"{', '.join(late)} would run after version {newest}, which is already applied; "
                "give it a version above the newest applied one"
            )
        return pending

    @contextmanager
    def _exclusive(self) -> Iterator[psycopg.Connection]:
        """A work connection, yielded while a dedicated connection holds the migration lock."""
        with connect(self.url, autocommit=True) as lock_conn:
            deadline = time.monotonic() + self.lock_wait_seconds
            announced = False
            while not lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise MigrationError(
                        f"another migration runner held the lock for over {self.lock_wait_seconds:.0f} s; "
                        "nothing was applied"
                    )
                if not announced:
                    log.info("Another migration runner is active; waiting for it to finish")
                    announced = True
                time.sleep(0.2)
            # Closing lock_conn ends its session, which releases the lock even if we die here.
            with connect(self.url) as conn:
                conn.add_notice_handler(lambda notice: log.info("PostgreSQL: %s", notice.message_primary))
                self._create_history_table(conn)
                yield conn

    def _read_history(self, conn: psycopg.Connection) -> dict[int, AppliedMigration]:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (HISTORY_TABLE,)).fetchone()[0]
        if not exists:
            conn.rollback()
            return {}
        rows = conn.execute(
            f"SELECT version, filename, checksum, applied_at, execution_ms, applied_by "
            f"FROM {HISTORY_TABLE} ORDER BY version"
        ).fetchall()
        conn.rollback()  # end the read transaction: the lock connection must not sit idle in one
        return {row[0]: AppliedMigration(*row) for row in rows}

    def _create_history_table(self, conn: psycopg.Connection) -> None:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (HISTORY_TABLE,)).fetchone()[0]
        conn.rollback()
        if exists:
            return
        with conn.transaction():
            conn.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
                    version      INT         PRIMARY KEY,
                    filename     TEXT        NOT NULL,
                    checksum     CHAR(64)    NOT NULL,
                    applied_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
                    execution_ms INT         NOT NULL,
                    applied_by   TEXT        NOT NULL
                )"""
            )
            self._keep_history_to_its_owner(conn)

    @staticmethod
    def _keep_history_to_its_owner(conn: psycopg.Connection) -> None:
        """Only the runner (the history's owner) may change the history: revoke what default privileges granted
        others on creation, e.g. db/roles.sql's writer role."""
        grantees = conn.execute(
            "SELECT DISTINCT grantee FROM information_schema.role_table_grants"
            " WHERE table_schema = current_schema() AND table_name = %s AND grantee <> current_user"
            " AND privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')",
            (HISTORY_TABLE,),
        ).fetchall()
        for (grantee,) in grantees:
            conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(HISTORY_TABLE), sql.Identifier(grantee)))

    def _apply(self, conn: psycopg.Connection, migration: Migration) -> None:
        log.info("Applying %s%s", migration.filename, "" if migration.transactional else " (no transaction)")
        started = time.monotonic()
        try:
            if migration.transactional:
                with conn.transaction():
                    conn.execute("SELECT set_config('lock_timeout', %s, true)", (self.lock_timeout,))
                    conn.execute("SELECT set_config('statement_timeout', %s, true)", (self.statement_timeout,))
                    conn.execute(migration.sql.encode())
                    self._record(conn, migration, _elapsed_ms(started))
            else:
                self._drop_invalid_index_left_by(conn, migration)
                conn.autocommit = True
                try:
                    conn.execute("SELECT set_config('lock_timeout', %s, false)", (self.lock_timeout,))
                    conn.execute("SELECT set_config('statement_timeout', %s, false)", (self.statement_timeout,))
                    conn.execute(migration.sql.encode())
                finally:
                    conn.autocommit = False
                with conn.transaction():
                    self._record(conn, migration, _elapsed_ms(started))
        except psycopg.errors.LockNotAvailable as exc:
            raise MigrationError(
                f"{migration.filename}: waited {self.lock_timeout} for a table lock held by another session; "
                f"nothing was applied, try again when it is released ({exc.diag.message_primary})"
            ) from None
        except psycopg.Error as exc:
            where = f" (line {exc.diag.statement_position})" if exc.diag.statement_position else ""
            raise MigrationError(
                f"{migration.filename} failed{where} and was rolled back: {str(exc).strip()}"
            ) from None
        log.info("Applied %s in %d ms", migration.filename, _elapsed_ms(started))

    def _drop_invalid_index_left_by(self, conn: psycopg.Connection, migration: Migration) -> None:
        match = _CREATE_INDEX_CONCURRENTLY.search(_strip_comments(migration.sql))
        if not match:
            return
        name = match.group(1).strip('"') if match.group(1).startswith('"') else match.group(1).lower()
        invalid = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND NOT i.indisvalid AND n.nspname = ANY(current_schemas(false))",
            (name,),
        ).fetchone()
        conn.rollback()
        if invalid:
            log.warning("Dropping INVALID index %s.%s left by an interrupted run of %s", *invalid, migration.filename)
            conn.autocommit = True
            try:
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(*map(sql.Identifier, invalid)))
            finally:
                conn.autocommit = False

    def _record(self, conn: psycopg.Connection, migration: Migration, execution_ms: int) -> None:
        conn.execute(
            f"INSERT INTO {HISTORY_TABLE} (version, filename, checksum, execution_ms, applied_by) "
            "VALUES (%s, %s, %s, %s, current_user || ' (' || %s || ')')",
            (migration.version, migration.filename, migration.checksum, execution_ms, _client_identity()),
        )


DAY_PARTITIONS = ("heatmap_*_p" + "[0-9]" * 8, "clip_inventory_p" + "[0-9]" * 8)  # pg_dump: <table>_pYYYYMMDD


def dump_schema(url: str) -> str:
    """The schema of the database at `url` as `pg_dump --schema-only`, without version-specific noise or the day
    partitions (heatmap_day_partitions makes them: which days exist depends on the day it runs)."""
    pg_dump = postgres_bin_dir() / "pg_dump"
    # The password goes in the environment: a command line is visible to every user of the machine (ps).
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    result = subprocess.run(
        [str(pg_dump), "--schema-only", "--no-owner", "--no-privileges",
         *(f"--exclude-table={pattern}" for pattern in DAY_PARTITIONS), "--dbname", make_conninfo(**params)],
        capture_output=True, text=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10", **({"PGPASSWORD": password} if password else {})},
    )
    if result.returncode != 0:
        raise MigrationError(f"pg_dump failed: {result.stderr.strip()}")
    kept = []
    for line in result.stdout.splitlines():
        if line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")):
            continue
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue
        kept.append(line)
    header = "-- Generated by `roz db dump-schema` from a migrated database. Do not edit: add a migration.\n\n"
    return header + "\n".join(kept).strip() + "\n"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _client_identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"
