"""Shared fixtures: a real PostgreSQL (embedded, or ROZ_TEST_DATABASE_URL) with a fresh database per test, a Dagster
instance, moto's S3 and SQS, a webhook, `roz` in this process (roz_pipeline_tests/README.md maps the tests)."""

import contextlib
import os
import uuid
from dataclasses import dataclass

import boto3
import psycopg
import pytest
from dagster import Definitions, instance_for_test
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.common import MOTO_CREDENTIALS
from roz_pipeline.cli.main import main
from roz_pipeline.lib.resources import S3Clips
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import embedded_database_url, embedded_server, stop_embedded_server
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline_tests.helpers import (
    CAMERAS,
    MIGRATIONS,
    ROLES,
    Webhook,
    definitions_over,
    drop_roles_objects,
    free_port,
    local_defs,
    registry_file,
)


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory) -> str:
    """A superuser URL to a PostgreSQL server that tests may create databases in."""
    url = os.environ.get("ROZ_TEST_DATABASE_URL")
    if url:
        return url
    return embedded_database_url(tmp_path_factory.mktemp("embedded") / "pgdata", database="postgres")


@contextlib.contextmanager
def new_database(postgres_admin_url: str):
    """The URL of a new, empty database, dropped on leaving."""
    name = f"roz_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(postgres_admin_url, dbname=name)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_database(postgres_admin_url) -> str:
    """The URL of a new, empty database, dropped after the test."""
    with new_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def database_with_roles(empty_database):
    """A new database with db/roles.sql's roles (log in as one with `helpers.as_role`)."""
    with psycopg.connect(empty_database, autocommit=True) as admin:
        admin.execute((REPO_ROOT / "db" / "roles.sql").read_text().encode())
    yield empty_database
    with psycopg.connect(empty_database, autocommit=True) as admin:
        drop_roles_objects(admin)
        # Roles are cluster-wide: drop them only if no other database still uses them.
        for role in ROLES:
            with contextlib.suppress(psycopg.errors.DependentObjectsStillExist):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


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


@pytest.fixture(scope="session")
def moto_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def own_cluster(tmp_path):
    """An embedded PostgreSQL of the test's own, which it may restart: (its URL, pgserver's handle, its pgdata).
    Stopped after the test: once restarted it is no longer the server pgserver stops when this process exits."""
    pgdata = tmp_path / "own-cluster" / "pgdata"
    url = embedded_database_url(pgdata)
    yield url, embedded_server(pgdata), pgdata
    stop_embedded_server(pgdata)


@pytest.fixture
def instance():
    """A throw-away Dagster instance (Dagster's `instance_for_test`), for the whole test."""
    with instance_for_test() as dagster_instance:
        yield dagster_instance


@dataclass(frozen=True)
class MotoS3:
    """moto's server (`endpoint`) with the keys every test gives it (`credentials`: moto takes any, and
    explicit keys keep the user's own out of the tests)."""

    endpoint: str
    credentials: dict

    def client(self, service: str = "s3"):
        return boto3.client(service, endpoint_url=self.endpoint, **self.credentials)


@pytest.fixture
def moto_s3(moto_endpoint) -> MotoS3:
    """S3 and SQS on moto's server, shared by the session: each test makes its own bucket and queue."""
    return MotoS3(moto_endpoint, MOTO_CREDENTIALS)


@pytest.fixture
def make_defs(request, tmp_path, migrated_database):
    """make_defs(cameras, store="local"|"s3", grain="hour", layout="roz", **build_kwargs): Definitions for `cameras`
    (tmp_path/cameras.yaml, as `helpers.registry_file` writes it) on the migrated test database, their clips in
    tmp_path/videos or, with store="s3", in moto's S3 (`bucket`, `prefix`, `events_queue_url`)."""

    def make(cameras: str | dict = CAMERAS, store: str = "local", grain: str = "hour", layout: str = "roz", *,
             bucket: str = "clips", prefix: str = "", events_queue_url: str = "", **build_kwargs) -> Definitions:
        registry = registry_file(tmp_path, cameras)
        if store == "local":
            return local_defs(registry, tmp_path / "videos", migrated_database, grain, layout, **build_kwargs)
        assert store == "s3", store
        moto_s3 = request.getfixturevalue("moto_s3")
        clips = S3Clips(s3=S3Resource(endpoint_url=moto_s3.endpoint, **moto_s3.credentials), bucket=bucket,
                        prefix=prefix, layout=layout, events_queue_url=events_queue_url)
        return definitions_over(registry, clips, migrated_database, grain, **build_kwargs)

    return make


@pytest.fixture
def webhook():
    """A local HTTP server recording the alerts POSTed to it (`.url`, `.received`)."""
    hook = Webhook()
    yield hook
    hook.close()


@dataclass(frozen=True)
class RozResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def roz(monkeypatch, capsys):
    """`roz ARGS` in this process (`main(argv)`), with `env` set in the environment and `cwd` as the working folder
    for the rest of the test: its exit code and output, as a separate process would give them."""

    def run(*args, env: dict | None = None, cwd=None) -> RozResult:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, str(value))
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:  # argparse refusing the arguments
            code = exc.code
        output = capsys.readouterr()
        return RozResult(code, output.out, output.err)

    return run
