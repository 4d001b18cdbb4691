"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL under `$ROZ_HOME/pgdata`."""

import atexit
import json
import logging
import re
import signal
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from roz_pipeline import settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "roz"

# One handle per data directory and process. pgserver counts the processes that hold a handle
# (file lock + pid list in pgdata), so several processes share one server and the last one stops it.
_embedded_servers: dict[Path, object] = {}


def database_url_or_embedded() -> str:
    """`DATABASE_URL` (settings.database_url) when set; otherwise the URL of the embedded server, started on first
    use."""
    return settings.database_url() or embedded_database_url(settings.roz_home() / "pgdata")


def schema_owner_url(configured: str | None, database_url: Callable[[], str] = database_url_or_embedded) -> str:
    """The URL migrations and VACUUM run as: the tables' owner when one is `configured`
    (ROZ_SCHEMA_OWNER_DATABASE_URL, db/roles.sql: DATABASE_URL is then a writer that may not change the schema),
    else the database's own user (`database_url()`, called only then)."""
    return configured or database_url()


def embedded_database_url(pgdata: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded PostgreSQL in `pgdata` and return a URL for `database`, created if missing."""
    server = embedded_server(pgdata)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            # Another process may create it first: then there is nothing left to do.
            with suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                log.info("Created database %s in the embedded PostgreSQL at %s", database, pgdata)
    return server.get_uri(database)


PGSERVER_HANDLE_LIST = ".handle_pids.json"  # pgserver's list of the processes holding the server


def _pgserver_lock():
    """pgserver's own inter-process lock, which it holds while reading or writing any handle list."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import PostgresServer

    return PostgresServer._lock


def _is_alive(pid: int) -> bool:
    import psutil  # a dependency of pgserver

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def live_holders(pgdata: Path) -> list[int]:
    """The processes holding the embedded server of `pgdata`, its handle list rewritten without the others: a process
    that ended without atexit (SIGKILL, os._exit) stays listed, and the last one leaving would never stop the server.
    A half-written list (a process killed while writing it), which pgserver cannot read, is started afresh."""
    path = pgdata / PGSERVER_HANDLE_LIST
    with _pgserver_lock():
        try:
            pids = json.loads(path.read_text())
        except FileNotFoundError:
            return []
        except ValueError:
            log.warning("%s was half written (a process was killed while writing it); starting it afresh", path)
            pids = None
        alive = [pid for pid in pids or [] if _is_alive(pid)]
        if alive != pids:
            path.write_text(json.dumps(alive))
    return alive


def embedded_server(pgdata: Path):
    """The pgserver handle for `pgdata`, starting the server if no process runs it yet."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the embedded default needs it

    pgdata = pgdata.resolve()
    if pgdata not in _embedded_servers:
        pgdata.mkdir(parents=True, exist_ok=True)
        live_holders(pgdata)
        log.info("Using the embedded PostgreSQL in %s (set DATABASE_URL to use a server)", pgdata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _embedded_servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")
        # Registered after pgserver's own exit handler, so run before it: the last live holder stops the server.
        atexit.register(live_holders, pgdata)
    return _embedded_servers[pgdata]


def running_postmaster(pgdata: Path):
    """The psutil.Process of the PostgreSQL server running on `pgdata`, or None (none started, or it ended)."""
    import psutil

    with suppress(OSError, ValueError, psutil.Error):
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        postmaster = psutil.Process(pid)
        if str(pgdata.resolve()) in postmaster.cmdline():  # not another process that was given the same pid
            return postmaster
    return None


def stop_embedded_server(pgdata: Path, seconds: float = 60) -> bool:
    """Stop the server running on `pgdata` by PostgreSQL's fast shutdown (its clients are disconnected, its data
    written); False when none runs."""
    import psutil

    postmaster = running_postmaster(pgdata)
    if postmaster is None:
        return False
    postmaster.send_signal(signal.SIGINT)
    try:
        postmaster.wait(seconds)
    except psutil.TimeoutExpired:
        raise TimeoutError(f"the embedded PostgreSQL in {pgdata} did not stop within {seconds:g} s") from None
    return True


def postgres_bin_dir() -> Path:
    """The PostgreSQL client programs shipped with pgserver (pg_dump, psql), whatever is on PATH."""
    import pgserver._commands

    return Path(pgserver._commands.POSTGRES_BIN_PATH)


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***`, for logs and messages."""
    url = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """A psycopg connection to `url` (default: `database_url_or_embedded()`), with errors that never show the password,
    and a connect timeout (`ROZ_DB_CONNECT_TIMEOUT`, unless the URL sets its own): an unreachable server fails the step
    (which retries) instead of hanging it, sensors included."""
    url = url or database_url_or_embedded()
    if "connect_timeout" not in conninfo_to_dict(url):
        kwargs.setdefault("connect_timeout", settings.db_connect_timeout())
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        raise psycopg.OperationalError(
            f"cannot connect to {mask_url(url)}: {mask_url(str(exc)).strip()}"
        ) from None
