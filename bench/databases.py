"""Throw-away databases for the benchmarks, on DATABASE_URL's server or the embedded PostgreSQL under bench/out/roz."""

from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from roz_pipeline import settings
from roz_pipeline.storage.connection import embedded_database_url

OUT = Path(__file__).resolve().parent / "out"


def server_url() -> str:
    """A URL on the server the benchmarks may create databases in."""
    return settings.database_url() or embedded_database_url(OUT / "roz" / "pgdata", database="postgres")


def fresh_database(server: str, name: str) -> str:
    """Drop and create database `name` on `server`; its URL."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server, dbname=name)


def sqlalchemy_url(conninfo: str) -> str:
    """dagster-postgres' URL (psycopg2 driver, see deploy/dagster.yaml) for a libpq conninfo; socket dirs included."""
    params = conninfo_to_dict(conninfo)
    host, user = params.get("host", "127.0.0.1"), params.get("user", "postgres")
    if host.startswith("/"):
        return f"postgresql+psycopg2://{user}@/{params['dbname']}?host={host}&port={params.get('port', 5432)}"
    return f"postgresql+psycopg2://{user}@{host}:{params.get('port', 5432)}/{params['dbname']}"
