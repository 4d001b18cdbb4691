"""Shared fixtures: a real PostgreSQL (embedded, or ROZ_TEST_DATABASE_URL) with a fresh database per test."""

import os
import socket
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from moto.server import ThreadedMotoServer
from psycopg.conninfo import make_conninfo

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import embedded_database_url
from roz_pipeline.storage.migrations import Migrator

MIGRATIONS = REPO_ROOT / "db" / "migrations"


def skip_or_fail(reason: str) -> None:
    """Skip for a missing optional tool, unless ROZ_TEST_REQUIRE_ALL=1 (CI) turns that into a failure."""
    if os.environ.get("ROZ_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (required because ROZ_TEST_REQUIRE_ALL=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory) -> str:
    """A superuser URL to a PostgreSQL server that tests may create databases in."""
    url = os.environ.get("ROZ_TEST_DATABASE_URL")
    if url:
        return url
    return embedded_database_url(tmp_path_factory.mktemp("embedded") / "pgdata", database="postgres")


@pytest.fixture
def empty_database(postgres_admin_url) -> str:
    """The URL of a new, empty database, dropped after the test."""
    name = f"roz_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(postgres_admin_url, dbname=name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def migrated_database(empty_database) -> str:
    """The URL of a new database with every migration of db/migrations applied."""
    Migrator(empty_database, MIGRATIONS).migrate()
    return empty_database


@pytest.fixture
def db(migrated_database):
    """An autocommit connection to a migrated database."""
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        yield conn


def run_migrate_script(args: list[str], database_url: str, timeout: float = 120, **popen):
    """`python db/migrate.py ARGS` against `database_url`, as a user runs it from the repository root."""
    import subprocess

    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "db" / "migrate.py"), *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, **popen,
    )


def copy_migrations(destination: Path, extra: dict[str, str] | None = None) -> Path:
    """db/migrations copied to `destination`, plus `extra` files (name -> SQL)."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in MIGRATIONS.glob("*.sql"):
        (destination / path.name).write_text(path.read_text())
    for name, text in (extra or {}).items():
        (destination / name).write_text(text)
    return destination


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
