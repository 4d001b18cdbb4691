"""Database passwords and AWS keys never show in logs, run metadata, failure messages or resource config."""

import os
from datetime import timedelta

import boto3
from dagster import EnvVar, instance_for_test
from psycopg.conninfo import conninfo_to_dict

from roz_pipeline.defs import build_definitions
from roz_pipeline_tests.helpers import T0, clip_key, make_clip, registry_file, run_range

BUCKET, PREFIX = "secrets-test", "site-b"
DB_PASSWORD = "db-secret-hunter2"
AWS_SECRET = "aws-secret-Xy7Qw3"


def _url_with_password(conninfo: str, password: str) -> str:
    """The test database as a URL with a password (trust authentication ignores it; logs must not show it)."""
    params = conninfo_to_dict(conninfo)
    host = params.get("host", "127.0.0.1")
    where = (f"@/{params['dbname']}?host={host}" if host.startswith("/")
             else f"@{host}:{params.get('port', 5432)}/{params['dbname']}")
    return f"postgresql://{params.get('user', 'postgres')}:{password}{where}"


def _everything_dagster_recorded(instance, run_id: str) -> str:
    run = instance.get_run_by_id(run_id)
    entries = instance.all_logs(run_id)
    return "\n".join([str(run.run_config), str(run.tags)] + [entry.user_message for entry in entries]
                     + [str(entry.dagster_event) for entry in entries if entry.dagster_event])


def test_secrets_from_the_environment_stay_out_of_runs_logs_and_errors(
    monkeypatch, tmp_path, moto_endpoint, migrated_database
):
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="AKIDROZTEST",
                          aws_secret_access_key=AWS_SECRET, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    make_clip(tmp_path / "up", "lobby", T0)
    client.upload_file(str(tmp_path / "up" / clip_key("lobby", T0)), BUCKET, f"{PREFIX}/{clip_key('lobby', T0)}")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{clip_key('lobby', T0 + timedelta(minutes=1))}", Body=b"bad")
    registry = registry_file(tmp_path)
    for name, value in {"DATABASE_URL": _url_with_password(migrated_database, DB_PASSWORD),
                        "ROZ_S3_BUCKET": BUCKET, "ROZ_S3_PREFIX": PREFIX, "AWS_ENDPOINT_URL": moto_endpoint,
                        "AWS_ACCESS_KEY_ID": "AKIDROZTEST", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)

    defs = build_definitions(registry, partitions_start="2026-11-01", grain="minute")
    assert isinstance(defs.resources["database"].url, EnvVar)  # the UI shows the variable's name, not its value
    with instance_for_test() as instance:
        result = run_range(defs, "lobby", T0, T0 + timedelta(minutes=1), instance)
        recorded = _everything_dagster_recorded(instance, result.run_id)

    assert not result.success  # the bad clip: a failure message was recorded too
    assert "14-01.mp4: not a video" in recorded
    assert DB_PASSWORD not in recorded and AWS_SECRET not in recorded

    monkeypatch.setenv("DATABASE_URL", f"postgresql://roz:{DB_PASSWORD}@127.0.0.1:1/roz")  # unreachable
    unreachable = build_definitions(registry, partitions_start="2026-11-01", grain="minute")
    with instance_for_test() as instance:
        failed = run_range(unreachable, "lobby", T0, T0, instance)
        recorded = _everything_dagster_recorded(instance, failed.run_id)

    assert not failed.success
    assert "cannot connect to postgresql://roz:***@127.0.0.1:1/roz" in recorded
    assert DB_PASSWORD not in recorded


def test_pg_dump_gets_the_password_from_the_environment_not_its_command_line(tmp_path, monkeypatch):
    from roz_pipeline.storage import migrations

    fake = tmp_path / "pg_dump"  # records what it was given, as the real one would receive it
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\necho "$PGPASSWORD" > {tmp_path}/password\n')
    fake.chmod(0o755)
    monkeypatch.setattr(migrations, "postgres_bin_dir", lambda: tmp_path)

    migrations.dump_schema(f"postgresql://roz:{DB_PASSWORD}@127.0.0.1:5432/roz")

    argv = (tmp_path / "argv").read_text()
    assert DB_PASSWORD not in argv and "host=127.0.0.1" in argv and "user=roz" in argv
    assert (tmp_path / "password").read_text().strip() == DB_PASSWORD


def test_a_server_that_never_answers_fails_the_connection_after_the_timeout(tmp_path):
    import socket
    import subprocess
    import sys

    silent = socket.socket()  # accepts TCP connections (the backlog) but never speaks PostgreSQL
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    port = silent.getsockname()[1]
    script = ("from roz_pipeline.storage.connection import connect; "
              f"connect('postgresql://roz:{DB_PASSWORD}@127.0.0.1:{port}/roz')")
    try:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "ROZ_DB_CONNECT_TIMEOUT": "2"})
    finally:
        silent.close()

    assert result.returncode != 0 and "cannot connect to postgresql://roz:***@127.0.0.1" in result.stderr
    assert DB_PASSWORD not in result.stderr
