"""What many tests share: clips on disk, Dagster runs of a camera range, stored rows, migrations, free ports."""

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import psycopg
import pytest
import yaml
from dagster import (
    AssetKey,
    Definitions,
    PartitionKeyRange,
    RunRequest,
    build_sensor_context,
    instance_for_test,
    materialize,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.common import sqlalchemy_url
from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core.codec import encode_intensity
from roz_pipeline.defs import build_definitions
from roz_pipeline.lib.keys import RANGE_END_TAG, RANGE_START_TAG, minutes_key
from roz_pipeline.lib.resources import HeatmapDatabase, LocalClips
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.minutes import HeatmapMinute, built_minutes

MIGRATIONS = REPO_ROOT / "db" / "migrations"
SAMPLE_VIDEOS = Path("/usr/share/doc/opencv-doc/examples/data")  # Debian's opencv-doc: OpenCV's sample footage

T0 = datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
# Partitions start after each camera's retention cutoff: a century keeps T0's minutes in range whenever tests run.
KEEP = "retention_days: 36500"
REGISTRY = f"""
cameras:
  lobby: {{{KEEP}}}
  yard: {{downscale_factor: 2, ignore: [[0, 0, 320, 20]], {KEEP}}}
  dock: {{{KEEP}}}
"""
CAMERAS = {"lobby": KEEP}  # make_defs' and registry_file's cameras unless a test says


def partition_key(minute: datetime) -> str:
    return minute.strftime("%Y-%m-%d-%H:%M")


def clip_key(camera: str, minute: datetime, ext: str = "mp4") -> str:
    return f"{camera}/{minute:%Y-%m-%d}/{minute:%H-%M}.{ext}"


def make_clip(root: Path, camera: str, minute: datetime, seed: int = 0, ext: str = "mp4") -> Path:
    path = root / clip_key(camera, minute, ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_clip(path, width=320, height=180, frames=12, seed=seed,
               walkers=(Walker(start=(0, 80), end=(280, 80), size=(16, 40)),))
    return path


def skip_or_fail(reason: str) -> None:
    """Skip for a missing optional tool, unless ROZ_TEST_REQUIRE_ALL=1 (CI) turns that into a failure."""
    if os.environ.get("ROZ_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (required because ROZ_TEST_REQUIRE_ALL=1)")
    pytest.skip(reason)


def run_migrate_script(args: list[str], database_url: str, timeout: float = 120, **popen):
    """`python db/migrate.py ARGS` against `database_url`, as a user runs it from the repository root."""
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


def registry_file(folder: Path, cameras: str | dict = CAMERAS) -> Path:
    """`folder`/cameras.yaml for `cameras`: YAML text, or {camera id: settings as a dict or as YAML flow text
    without its braces, e.g. KEEP}."""
    if isinstance(cameras, dict):
        settings = {camera: yaml.safe_load(f"{{{value}}}") if isinstance(value, str) else value
                    for camera, value in cameras.items()}
        cameras = yaml.safe_dump({"cameras": settings}, sort_keys=False)
    path = Path(folder) / "cameras.yaml"
    path.write_text(cameras)
    return path


def roz_resources(database_url: str, clips) -> dict:
    """Roz's resources: the database at `database_url` (migrated from db/migrations) and the `clips` resource."""
    return {"database": HeatmapDatabase(url=database_url, migrations_dir=str(MIGRATIONS)), "clips": clips}


def definitions_over(registry, clips, database_url, grain="hour", partitions_start="2026-11-01",
                     **kwargs) -> Definitions:
    """Definitions over the `clips` resource and the database at `database_url`; hour partitions, as in production,
    unless `grain` says (the tests of one clip a minute say minute)."""
    return build_definitions(registry, roz_resources(database_url, clips), partitions_start=partitions_start,
                             grain=grain, **kwargs)


def local_defs(registry, video_root, database_url, grain="hour", layout="roz", **kwargs) -> Definitions:
    """Definitions over a local clip folder (`definitions_over`)."""
    return definitions_over(registry, LocalClips(root=str(video_root), layout=layout), database_url, grain, **kwargs)


def asset_def(defs: Definitions, key: AssetKey):
    return next(a for a in defs.assets if getattr(a, "keys", None) and key in a.keys)


def run_range(defs: Definitions, camera: str, first: datetime, last: datetime, instance):
    asset_key = minutes_key(camera)
    return materialize(
        [asset_def(defs, k) for k in (AssetKey("roz_schema"), asset_key)],
        selection=[asset_key],
        resources=defs.resources,
        instance=instance,
        tags={RANGE_START_TAG: partition_key(first), RANGE_END_TAG: partition_key(last)},
        raise_on_error=False,
    )


def execute_request(defs: Definitions, request: RunRequest, instance):
    """Run what a sensor's RunRequest asks for, as the daemon would launch it: its job and run config, or its asset
    selection; its tags."""
    if request.job_name:
        return defs.resolve_job_def(request.job_name).execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags, raise_on_error=False)
    return materialize([asset_def(defs, key) for key in request.asset_selection], resources=defs.resources,
                       instance=instance, tags=request.tags, raise_on_error=False)


def rollup_requests(defs: Definitions, instance, cursor: str | None = None) -> tuple[dict[AssetKey, list[str]], str]:
    """One tick of rollup_automation_sensor: the partitions it requests, {asset key: sorted keys}, and its cursor."""
    result = defs.resolve_sensor_def("rollup_automation_sensor")(
        build_sensor_context(instance=instance, definitions=defs, cursor=cursor))
    requested: dict[AssetKey, list[str]] = {}
    for request in result.run_requests or []:
        (key,) = request.asset_selection
        partitions = defs.resolve_asset_graph().get(key).partitions_def
        keys = partitions.get_partition_keys_in_range(
            PartitionKeyRange(request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]))
        requested[key] = sorted(requested.get(key, []) + list(keys))
    return requested, result.cursor


class Clock:
    """A clock the test sets (`clock.now = ...`), called for the time as Roz's sensors and checks call theirs."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sensor_ticks(sensor, resources: dict, clock: Clock, start: datetime):
    """tick(minutes_later): one evaluation of `sensor` (built with `clock`) at start + minutes_later, on a fresh
    instance, its cursor carried from tick to tick."""
    cursor = {"value": None}

    def tick(minutes_later: float):
        clock.now = start + timedelta(minutes=minutes_later)
        with instance_for_test() as instance, build_sensor_context(
                instance=instance, cursor=cursor["value"], resources=resources) as context:
            result = sensor(context)
        cursor["value"] = result.cursor
        return result

    return tick


def cell_is(picture: np.ndarray, cell: tuple[slice, slice], color: tuple[int, int, int]) -> bool:
    """Whether every pixel of a cell of a decoded (BGR) picture has `color`."""
    return bool((picture[cell] == np.array(color, np.uint8)).all())


def minute_sources(conn, camera_id: str, start: datetime, end: datetime) -> list:
    """What the camera's stored minutes of `start <= t < end` were built from, as a following run reads it."""
    return [minute.sources for minute in built_minutes(conn, camera_id, start, end)]


def rows(url: str, camera: str = "lobby") -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            'SELECT "timestamp", video_path, frame_count, total_intensity, processed_at, intensity_array '
            'FROM heatmap_minutes WHERE camera_id = %s ORDER BY "timestamp"', (camera,)).fetchall()


def minute_row(camera: str, when: datetime) -> HeatmapMinute:
    array = np.zeros((9, 16), np.float32)
    array[2:4, 3:6] = 3
    return HeatmapMinute(camera, when, f"{camera}/{when:%Y-%m-%d/%H-%M}.mp4", 9, 16, 4, encode_intensity(array), 10,
                         float(array.sum()), 3.0, int(np.count_nonzero(array)))


ROLES = ("roz_migrator", "roz_writer", "roz_reader")  # db/roles.sql


def as_role(url: str, role: str) -> str:
    """`url` logging in as `role` (db/roles.sql)."""
    return make_conninfo(url, user=role)


def drop_roles_objects(admin: psycopg.Connection) -> None:
    """Drop what db/roles.sql's roles own or were granted in `admin`'s database."""
    for role in ROLES:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))


def deploy_instance(home, database_url: str) -> None:
    """deploy/dagster.yaml in `home`, its storage on the test database."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    assert set(config["storage"]["postgres"]["postgres_db"]) == {"hostname", "port", "db_name", "username", "password",
                                                                 "scheme"}
    scheme = config["storage"]["postgres"]["postgres_db"]["scheme"]
    config["storage"] = {"postgres": {"postgres_url": sqlalchemy_url(database_url, scheme)}}
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


class PostgresOnAPort:
    """The test database's server reached through a TCP port of its own (`.port`): whoever connects there was told
    that port. `.connections` counts them."""

    def __init__(self, database_url: str):
        params = conninfo_to_dict(database_url)
        host, port = params.get("host", "127.0.0.1"), int(params.get("port", 5432))
        self.upstream = ((socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/")
                         else (socket.AF_INET, (host, port)))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):  # closed
            while True:
                client, _ = self.listener.accept()
                self.connections += 1
                server = socket.socket(self.upstream[0])
                server.connect(self.upstream[1])
                for source, sink in ((client, server), (server, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self):
        self.listener.close()


class FaultyProxy:
    """An HTTP proxy in front of S3 that answers some requests itself, per `rule(method, path, count)`.

    The rule returns None to forward the request, or (status, delay_seconds) to answer with that status after
    the delay; status 0 forwards after the delay (a slow response). `count` is how often that path was requested.
    """

    def __init__(self, upstream: str, rule):
        self.upstream_port = int(upstream.rsplit(":", 1)[1])
        self.rule = rule
        self.faults = 0
        self.seen: dict[tuple[str, str], int] = {}
        self.sent: dict[str, int] = {}  # path -> bytes of GET responses forwarded
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                """Quiet: the test checks what the proxy did, not its access log."""

            def _answer(self, status: int):
                code = {403: "AccessDenied", 404: "NoSuchKey"}.get(status, "InternalError")
                body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self):
                key = (self.command, self.path.split("?")[0])
                count = proxy.seen[key] = proxy.seen.get(key, 0) + 1
                decision = proxy.rule(self.command, key[1], count)
                if decision:
                    status, delay = decision
                    time.sleep(delay)
                    if status:
                        proxy.faults += 1
                        return self._answer(status)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                # A HEAD answer has no body but announces the object's size, as S3 does
                self.send_header("Content-Length", response.getheader("Content-Length", "0")
                                 if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                if self.command == "GET":
                    proxy.sent[key[1]] = proxy.sent.get(key[1], 0) + len(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Webhook:
    """A local HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                """Quiet: the test checks what the server received, not its access log."""

            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
