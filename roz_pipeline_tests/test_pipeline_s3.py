"""The camera assets reading clips from S3 over real HTTP (moto's server), including transient server errors."""

import time
from datetime import timedelta

import pytest
from dagster import AssetKey, DagsterEventType, instance_for_test
from dagster_aws.s3 import S3Resource

from bench.common import MOTO_CREDENTIALS
from roz_pipeline.cli.main import main
from roz_pipeline.lib.resources import S3Clips
from roz_pipeline_tests.helpers import (
    T0,
    FaultyProxy,
    clip_key,
    definitions_over,
    make_clip,
    registry_file,
    rows,
    run_range,
)

BUCKET, PREFIX = "cameras", "site-a"


@pytest.fixture
def faulty_proxy(moto_s3):
    proxies = []

    def start(rule) -> FaultyProxy:
        proxies.append(FaultyProxy(moto_s3.endpoint, rule))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


def is_clip(path: str, minute: str | None = None) -> bool:
    return path.lower().endswith(".mp4") and (minute is None or path.endswith(f"/{minute}.mp4"))


@pytest.fixture
def bucket(moto_s3, tmp_path):
    """A fresh bucket with lobby clips for 14:00, 14:01 and 14:03 (14:02 missing) and a corrupt 14:04."""
    client = moto_s3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    local = tmp_path / "upload"
    for i in (0, 1, 3):
        path = make_clip(local, "lobby", T0 + timedelta(minutes=i), seed=i)
        client.upload_file(str(path), BUCKET, f"{PREFIX}/{clip_key('lobby', T0 + timedelta(minutes=i))}")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{clip_key('lobby', T0 + timedelta(minutes=4))}",
                      Body=b"garbage" * 100)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def s3_defs(tmp_path, endpoint: str, database_url: str, clock=None):
    clips = S3Clips(s3=S3Resource(endpoint_url=endpoint, max_attempts=5, **MOTO_CREDENTIALS), bucket=BUCKET,
                    prefix=PREFIX)
    return definitions_over(registry_file(tmp_path), clips, database_url, grain="minute", clock=clock)


def run_from_s3(endpoint: str, tmp_path, database_url: str, minutes: int):
    """(result, log text) of one ranged run of lobby over `minutes` minutes from T0, reading S3 at `endpoint`."""
    defs = s3_defs(tmp_path, endpoint, database_url)
    with instance_for_test() as instance:
        result = run_range(defs, "lobby", T0, T0 + timedelta(minutes=minutes - 1), instance)
        return result, "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))


def test_ranged_run_from_s3_writes_good_minutes_and_names_the_corrupt_object(bucket, moto_s3, tmp_path,
                                                                             migrated_database):
    result, logs = run_from_s3(moto_s3.endpoint, tmp_path, migrated_database, minutes=5)

    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"s3://{BUCKET}/{PREFIX}/lobby/2026-11-20/14-04.mp4: not a video FFmpeg can read" in message
    stored = rows(migrated_database)
    assert [r[0] for r in stored] == [T0 + timedelta(minutes=i) for i in (0, 1, 3)]
    assert stored[0][1] == f"s3://{BUCKET}/{PREFIX}/lobby/2026-11-20/14-00.mp4"
    assert "lobby 2026-11-20 14:02: no clip in the store for 1 minute(s) (14:02)" in logs


def test_transient_s3_errors_are_retried(bucket, faulty_proxy, tmp_path, migrated_database):
    proxy = faulty_proxy(lambda method, path, count: (500, 0) if method == "GET" and is_clip(path) and count <= 2
                         else None)
    result, _ = run_from_s3(proxy.url, tmp_path, migrated_database, minutes=2)

    assert result.success
    assert proxy.faults == 4  # two failed GETs for each of the two clips, then success
    assert len(rows(migrated_database)) == 2


def test_a_5xx_outlasting_botos_retries_fails_the_step_and_its_retry_policy_completes_it(
        bucket, faulty_proxy, tmp_path, migrated_database, instance):
    # One attempt of the step GETs a clip 6 times (boto's max_attempts=5, then s3transfer's own retry): 6 failing
    # GETs exhaust them; the step fails and its RetryPolicy runs it again.
    proxy = faulty_proxy(lambda method, path, count: (503, 0) if method == "GET" and is_clip(path) and count <= 6
                         else None)
    defs = s3_defs(tmp_path, proxy.url, migrated_database)
    result = run_range(defs, "lobby", T0, T0, instance)
    retries = list(instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY))

    assert result.success
    (retry,) = retries
    assert "ClientError" in repr(retry.dagster_event.event_specific_data.error)  # S3's 503, not a clip fault
    assert proxy.faults == 6
    assert len(rows(migrated_database)) == 1


def test_endpoint_down_for_a_while_then_back_completes_the_run(bucket, faulty_proxy, tmp_path, migrated_database):
    outage = {}

    def down_for_4_s(method, path, count):  # from the run's first request: setup's own time does not shorten it
        started = outage.setdefault("at", time.monotonic())
        return (503, 0) if time.monotonic() < started + 4 else None

    proxy = faulty_proxy(down_for_4_s)
    result, _ = run_from_s3(proxy.url, tmp_path, migrated_database, minutes=2)

    assert result.success and proxy.faults > 0
    assert len(rows(migrated_database)) == 2


def test_slow_responses_only_slow_the_run(bucket, faulty_proxy, tmp_path, migrated_database):
    proxy = faulty_proxy(lambda method, path, count: (0, 1.5) if method == "GET" and is_clip(path) else None)
    result, _ = run_from_s3(proxy.url, tmp_path, migrated_database, minutes=2)

    assert result.success and len(rows(migrated_database)) == 2


def test_an_object_gone_after_listing_is_a_missing_minute_and_access_denied_names_the_key(
    bucket, faulty_proxy, tmp_path, migrated_database
):
    def rule(method, path, count):
        if method in ("GET", "HEAD") and is_clip(path, "14-00"):
            return 404, 0
        if method in ("GET", "HEAD") and is_clip(path, "14-01"):
            return 403, 0
        return None

    result, logs = run_from_s3(faulty_proxy(rule).url, tmp_path, migrated_database, minutes=4)

    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"s3://{BUCKET}/{PREFIX}/lobby/2026-11-20/14-01.mp4: cannot download (403 access denied)" in message
    assert "14-00" not in message.split("written:")[1]  # the vanished clip is not a bad minute...
    assert "lobby/2026-11-20/14-00.mp4: gone since it was listed" in logs  # ...it is reported missing
    assert [r[0] for r in rows(migrated_database)] == [T0 + timedelta(minutes=3)]


def test_sensor_lists_new_clips_in_s3(bucket, moto_s3, tmp_path, migrated_database, instance):
    from dagster import build_sensor_context

    bucket.put_object(Bucket=BUCKET, Key=f"{PREFIX}/lobby/readme.txt", Body=b"x")
    defs = s3_defs(tmp_path, moto_s3.endpoint, migrated_database, clock=lambda: T0 + timedelta(hours=1))
    sensor = defs.resolve_sensor_def("new_clips_sensor")

    with build_sensor_context(instance=instance, definitions=defs, resources=defs.resources) as context:
        result = sensor(context)

    assert sorted(r.run_key.rsplit(":", 1)[0] for r in result.run_requests) == [
        "lobby:2026-11-20-14:00:2026-11-20-14:01", "lobby:2026-11-20-14:03:2026-11-20-14:04"]
    assert result.run_requests[0].asset_selection == [AssetKey(["heatmap_minutes", "lobby"])]
    assert any("lobby/readme.txt" in p for p in result.asset_events[0].metadata["new_problems"].value)


def test_the_command_line_reads_the_same_bucket(bucket, moto_s3, tmp_path, migrated_database, monkeypatch,
                                                capsys):
    """`roz heatmap render` takes its still from the bucket and `roz gaps` asks the bucket's clip inventory, as the
    environment names it (no Dagster resource involved)."""
    result, _ = run_from_s3(moto_s3.endpoint, tmp_path, migrated_database, 5)
    assert not result.success  # the corrupt 14:04 fails its own minute
    for name, value in {"DATABASE_URL": migrated_database, "ROZ_S3_BUCKET": BUCKET, "ROZ_S3_PREFIX": PREFIX,
                        "AWS_ENDPOINT_URL": moto_s3.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                        "ROZ_CAMERAS_FILE": str(tmp_path / "cameras.yaml")}.items():
        monkeypatch.setenv(name, value)
    period = ["--camera", "lobby", "--from", "2026-11-20T14:00", "--to", "2026-11-20T14:05"]

    assert main(["heatmap", "render", *period, "--out", str(tmp_path / "period.png")]) == 0
    assert f"3 minute(s) of lobby summed, over a still of s3://{BUCKET}/{PREFIX}/lobby/" in capsys.readouterr().out
    assert main(["gaps", *period]) == 1
    assert "2 missing minute(s) in 2 gap(s), 0 waiting to be processed" in capsys.readouterr().out
