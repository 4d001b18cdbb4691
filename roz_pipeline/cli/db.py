"""`roz db`: the migrations, as `python db/migrate.py` runs them: as the schema owner when one is set
(ROZ_SCHEMA_OWNER_DATABASE_URL), else as DATABASE_URL (or the embedded PostgreSQL)."""

import sys
from datetime import timezone
from pathlib import Path

from roz_pipeline.cli.arguments import EXIT_ERROR, EXIT_OK, EXIT_PENDING
from roz_pipeline.settings import database_url, migrations_dir, roz_home, schema_owner_database_url
from roz_pipeline.storage.connection import (
    live_holders,
    mask_url,
    running_postmaster,
    schema_owner_url,
    stop_embedded_server,
)
from roz_pipeline.storage.migrations import Migrator, dump_schema


def register(commands) -> None:
    db = commands.add_parser("db", help="database migrations (same as python db/migrate.py)")
    db.add_argument("--dir", type=Path, help="migrations folder (default: db/migrations or ROZ_MIGRATIONS_DIR)")
    db.add_argument("--lock-wait", type=float, default=120.0, help="seconds to wait for another runner")
    db.set_defaults(run=_db_migrate, dry_run=False)
    db_commands = db.add_subparsers(title="db commands")
    migrate = db_commands.add_parser("migrate", help="apply pending migrations (the default)")
    migrate.add_argument("--dry-run", action="store_true", help="list what would be applied, apply nothing")
    migrate.set_defaults(run=_db_migrate)
    db_commands.add_parser("status", help="applied/pending table; exit 0 up to date, 1 pending, 2 error") \
        .set_defaults(run=_db_status)
    db_commands.add_parser("repair", help="accept edited applied files (record their new checksums)") \
        .set_defaults(run=_db_repair)
    baseline = db_commands.add_parser("baseline", help="mark versions up to VERSION applied without running them")
    baseline.add_argument("version", type=int)
    baseline.set_defaults(run=_db_baseline)
    dump = db_commands.add_parser("dump-schema", help="write the migrated schema (regenerates db/schema.sql)")
    dump.add_argument("--out", type=Path, default=Path("db/schema.sql"))
    dump.set_defaults(run=_db_dump_schema)
    stop = db_commands.add_parser("stop", help="stop the embedded PostgreSQL of $ROZ_HOME/pgdata (never a server)")
    stop.add_argument("--force", action="store_true",
                      help="stop it even while other processes use it (their queries then fail)")
    stop.set_defaults(run=_db_stop)


def _migrator(args) -> Migrator:
    return Migrator(schema_owner_url(schema_owner_database_url()), args.dir or migrations_dir(),
                    lock_wait_seconds=args.lock_wait)


def _db_migrate(args) -> int:
    migrator = _migrator(args)
    if args.dry_run:
        pending = migrator.pending()
        for migration in pending:
            print(f"would apply {migration.filename}")
        print(f"{len(pending)} pending migration(s); nothing applied (dry run)")
        return EXIT_OK
    applied = migrator.migrate()
    target = mask_url(migrator.url)
    print(f"applied {len(applied)} migration(s) to {target}" if applied else f"{target} is up to date")
    return EXIT_OK


def _db_status(args) -> int:
    migrator = _migrator(args)
    states = migrator.status()
    print(f"database: {mask_url(migrator.url)}")
    print(f"{'version':>7}  {'state':8}  {'applied at (UTC)':19}  file")
    for s in states:
        when = s.applied_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "-"
        print(f"{s.version:>7}  {s.state:8}  {when:19}  {s.filename}")
    if any(s.state in ("edited", "missing") for s in states):
        print("applied migrations differ from the files: restore them, or run 'repair'", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_PENDING if any(s.state == "pending" for s in states) else EXIT_OK


def _db_repair(args) -> int:
    realigned = _migrator(args).repair()
    print(f"realigned {len(realigned)} checksum(s): {', '.join(realigned)}" if realigned else "nothing to repair")
    return EXIT_OK


def _db_baseline(args) -> int:
    marked = _migrator(args).baseline(args.version)
    print(f"marked {len(marked)} migration(s) as applied without running them")
    return EXIT_OK


def _db_dump_schema(args) -> int:
    args.out.write_text(dump_schema(schema_owner_url(schema_owner_database_url())))
    print(f"wrote {args.out}")
    return EXIT_OK


def _db_stop(args) -> int:
    pgdata = roz_home() / "pgdata"
    if database_url():
        print("DATABASE_URL is set: roz db stop stops only the embedded PostgreSQL of ROZ_HOME, never a server")
    if running_postmaster(pgdata) is None:
        print(f"the embedded PostgreSQL in {pgdata} was not running")
        return EXIT_OK
    holders = live_holders(pgdata)
    if holders and not args.force:
        print(f"roz: the embedded PostgreSQL in {pgdata} is in use by {_processes(holders)}: stop them first, or "
              "stop it anyway with roz db stop --force (their queries then fail)", file=sys.stderr)
        return EXIT_ERROR
    stop_embedded_server(pgdata)
    print(f"stopped the embedded PostgreSQL in {pgdata}" + (f" (in use by {_processes(holders)})" if holders else ""))
    return EXIT_OK


def _processes(pids: list[int]) -> str:
    """`pid 12 (roz explore), pid 34 (...)`: what a user recognizes in ps."""
    import psutil  # a dependency of pgserver

    def command(pid: int) -> str:
        try:
            words = [Path(word).name if word.startswith("/") else word for word in psutil.Process(pid).cmdline()]
        except psutil.Error:
            return f"pid {pid}"
        return f"pid {pid} ({' '.join(words)[:80]})"

    return ", ".join(command(pid) for pid in pids)
