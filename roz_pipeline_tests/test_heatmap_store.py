"""Writing and reading heatmap minutes, retention, and the embedded default database."""

import os
import re
import subprocess
import sys
import zlib
from datetime import date, datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest

from roz_pipeline.core.codec import decode_intensity, encode_intensity
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import PGSERVER_HANDLE_LIST
from roz_pipeline.storage.minutes import HeatmapMinute, busiest_hours, minutes_between, write_minute
from roz_pipeline.storage.partitions import ensure_partitions_between
from roz_pipeline.storage.seed_queries import freshness, hour_of_day_minutes, last_hour, table_size

T0 = datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)


def _minute(camera="lobby", when=T0, value=2.0, video_path=None) -> HeatmapMinute:
    array = np.zeros((270, 480), np.float32)
    array[100:110, 200:220] = value
    return HeatmapMinute(camera, when, video_path or f"{camera}/{when:%Y-%m-%d/%H-%M}.mp4", 270, 480, 4.0,
                         encode_intensity(array), 900, float(array.sum()), float(array.max()),
                         int(np.count_nonzero(array)))


def test_rewriting_a_minute_replaces_the_row_and_its_processed_at(db):
    write_minute(db, _minute(value=2.0))
    first_processed = db.execute("SELECT processed_at FROM heatmap_minutes").fetchone()[0]

    write_minute(db, _minute(value=5.0, video_path="lobby/redo.mp4"))

    rows = db.execute("SELECT video_path, max_intensity, processed_at FROM heatmap_minutes").fetchall()
    assert len(rows) == 1
    assert rows[0][:2] == ("lobby/redo.mp4", 5.0)
    assert rows[0][2] > first_processed


def test_seed_decode_snippet_reads_a_stored_row(db):
    stored = _minute(value=7.0)
    write_minute(db, stored)

    compressed_bytes, h, w = db.execute("SELECT intensity_array, height, width FROM heatmap_minutes").fetchone()
    heatmap = np.frombuffer(zlib.decompress(compressed_bytes), dtype=np.float32).reshape(h, w)

    assert heatmap.shape == (270, 480) and heatmap[105, 210] == 7.0
    assert np.array_equal(heatmap, decode_intensity(stored.intensity_array, 270, 480))


def test_codec_round_trip_is_exact_and_uses_plain_zlib_of_float32():
    array = np.random.default_rng(1).random((144, 192), dtype=np.float32)

    blob = encode_intensity(array)

    assert np.array_equal(decode_intensity(blob, 144, 192), array)
    assert zlib.decompress(blob) == array.tobytes()
    for height, width in [(144, 191), (145, 192)]:  # a row read with another row's size fails, naming the sizes
        with pytest.raises(ValueError, match=f"{height}x{width} float32"):
            decode_intensity(blob, height, width)
    with pytest.raises(ValueError, match="not a zlib stream"):
        decode_intensity(b"not zlib", 144, 192)
    with pytest.raises(ValueError, match="2-D"):
        encode_intensity(np.zeros(5, np.float32))


def test_minute_must_be_a_timezone_aware_start_of_minute(db):
    with pytest.raises(ValueError, match="start of minute"):
        write_minute(db, _minute(when=T0.replace(second=30)))
    with pytest.raises(ValueError, match="timezone-aware"):
        write_minute(db, _minute(when=T0.replace(tzinfo=None)))


@pytest.mark.parametrize("camera", ["Lobby", "../etc", "a" * 51, "lobby'; DROP TABLE heatmap_minutes; --", "", "_x"])
def test_invalid_camera_ids_are_rejected_before_any_sql(db, camera):
    with pytest.raises(ValueError, match="invalid camera id"):
        write_minute(db, _minute(camera=camera))
    with pytest.raises(ValueError, match="invalid camera id"):
        minutes_between(db, camera, T0, T0)
    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 0


def test_the_four_seed_queries_as_functions(db):
    now = T0 + timedelta(minutes=30)
    for offset, value in ((0, 1.0), (10, 2.0), (-60, 9.0), (-24 * 60 * 8, 4.0)):
        write_minute(db, _minute(when=T0 + timedelta(minutes=offset), value=value))
    write_minute(db, _minute(camera="yard", when=T0 - timedelta(days=1)))

    recent = last_hour(db, "lobby", now=now)
    assert [m.timestamp for m in recent] == [T0, T0 + timedelta(minutes=10)]
    assert recent[1].heatmap[105, 210] == 2.0

    hours = busiest_hours(db, "lobby", date(2026, 11, 20))
    assert [h for h, _ in hours] == [T0.replace(hour=13, minute=0), T0.replace(minute=0)]
    assert hours[0][1] == pytest.approx(9.0 * 200)

    at_two_pm = hour_of_day_minutes(db, "lobby", 14, days=7, now=now)
    assert [m.timestamp for m in at_two_pm] == [T0, T0 + timedelta(minutes=10)]

    fresh = {f.camera_id: f for f in freshness(db, now=now)}
    assert fresh["lobby"].last_data == T0 + timedelta(minutes=10) and fresh["lobby"].total_minutes == 4
    assert fresh["lobby"].age == timedelta(minutes=20)
    assert fresh["yard"].total_minutes == 1

    size, count = table_size(db)
    assert count == 5 and size > 0


def _ages_in_days(db) -> list[float]:
    return sorted(round(row[0], 3) for row in db.execute(
        "SELECT extract(epoch FROM now() - \"timestamp\") / 86400 FROM heatmap_minutes"))


def test_cleanup_deletes_exactly_the_rows_older_than_the_window(db):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    keep = [now - timedelta(days=89, hours=23), now - timedelta(days=1)]
    expire = [now - timedelta(days=90, minutes=2), now - timedelta(days=400)]
    for when in keep + expire:
        write_minute(db, _minute(when=when))

    assert db.execute("SELECT cleanup_old_heatmaps(90)").fetchone()[0] == 2

    remaining = {row[0] for row in db.execute('SELECT "timestamp" FROM heatmap_minutes')}
    assert remaining == set(keep)


@pytest.mark.parametrize("days", [0, -5])
def test_cleanup_refuses_a_window_below_one_day_and_deletes_nothing(db, days):
    write_minute(db, _minute(when=datetime.now(timezone.utc).replace(second=0, microsecond=0)))

    with pytest.raises(psycopg.errors.InvalidParameterValue, match="at least 1 day"):
        db.execute("SELECT cleanup_old_heatmaps(%s)", (days,))

    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 1


def test_cleanup_of_one_camera_leaves_the_others(db):
    old = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=40)
    write_minute(db, _minute(camera="lobby", when=old))
    write_minute(db, _minute(camera="yard", when=old))

    assert db.execute("SELECT cleanup_old_heatmaps(30, 'lobby')").fetchone()[0] == 1

    assert [row[0] for row in db.execute("SELECT camera_id FROM heatmap_minutes")] == ["yard"]


def test_batch_procedure_commits_every_batch_and_reports_the_total(db):
    old = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=10)
    for minute in range(7):
        write_minute(db, _minute(when=old - timedelta(minutes=minute)))
    write_minute(db, _minute(when=old + timedelta(days=9)))
    xact_before = db.execute("SELECT txid_current()").fetchone()[0]

    deleted = db.execute("CALL cleanup_old_heatmaps_in_batches(5, 'lobby', 3)").fetchone()[0]  # one camera: no drop

    assert deleted == 7
    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 1
    # 3 + 3 + 1 rows: three batches, each committed in its own transaction
    assert db.execute("SELECT txid_current()").fetchone()[0] - xact_before >= 4


@pytest.mark.parametrize("batch_size", ["NULL", "0", "-5"])
@pytest.mark.parametrize("statement", ["CALL cleanup_old_heatmaps_in_batches(5, NULL, {})",
                                       "SELECT cleanup_old_heatmaps(5, NULL, {})"])
def test_batch_sizes_below_one_row_are_refused_and_delete_nothing(db, statement, batch_size):
    old = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=10)
    for minute in range(3):
        write_minute(db, _minute(when=old - timedelta(minutes=minute)))
    db.execute("SET statement_timeout = '10s'")  # the loop that never ended fails here instead of hanging

    with pytest.raises(psycopg.errors.InvalidParameterValue, match="batch size must be at least 1 row"):
        db.execute(statement.format(batch_size))

    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 3


def test_the_batch_delete_statements_find_their_rows_through_an_index_even_with_a_generic_plan(db):
    now = datetime.now(timezone.utc)
    ensure_partitions_between(db, now - timedelta(minutes=20000), now)
    db.execute(
        "INSERT INTO heatmap_minutes (camera_id, \"timestamp\", video_path, height, width, downscale_factor, "
        "intensity_array, frame_count, total_intensity, max_intensity, nonzero_pixels) "
        "SELECT 'cam' || (i % 10), now() - i * interval '1 minute', 'clip', 1, 1, 4, '\\x00', 1, 0, 0, 0 "
        "FROM generate_series(1, 20000) AS i"
    )
    db.execute("ANALYZE heatmap_minutes")
    # The DELETE statements exactly as the batch function runs them, its variables as parameters. PL/pgSQL
    # switches to a generic plan (one for any value) after a few calls: explain that one.
    source = db.execute("SELECT prosrc FROM pg_proc WHERE proname = 'heatmap_delete_batch'").fetchone()[0]
    deletes = re.findall(r"DELETE FROM heatmap_minutes.*?;", source, re.DOTALL)
    assert len(deletes) == 2  # all cameras, one camera
    db.execute("SET plan_cache_mode = force_generic_plan")
    for number, delete in enumerate(deletes):
        statement = delete.rstrip(";")
        for variable, parameter in (("cutoff", "$1"), ("camera", "$2"), ("batch_size", "$3")):
            statement = re.sub(rf"\b{variable}\b", parameter, statement)
        db.execute(f"PREPARE batch_{number} (timestamptz, varchar, int) AS {statement}")
        plan = "\n".join(row[0] for row in db.execute(
            f"EXPLAIN EXECUTE batch_{number} (now() - interval '1 day', 'cam3', 5000)"))

        assert "Seq Scan" not in plan and "Index" in plan, plan


def test_embedded_default_is_shared_by_concurrent_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ROZ_HOME"] = str(tmp_path / "home")
    commands = [[sys.executable, "-m", "roz_pipeline.cli", "db", "migrate"] for _ in range(3)]

    processes = [subprocess.Popen(c, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for c in commands]
    results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in processes]

    assert [code for code, _, _ in results] == [0, 0, 0], results
    migrations = len(list((REPO_ROOT / "db" / "migrations").glob("*.sql")))
    assert sum(f"applied {migrations} migration(s)" in out for _, out, _ in results) == 1
    assert all(f"{tmp_path}/home/pgdata" in err for _, _, err in results)
    status = subprocess.run([sys.executable, str(REPO_ROOT / "db" / "migrate.py"), "status"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr


def test_embedded_default_starts_after_a_process_was_killed_writing_pgservers_handle_list(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ROZ_HOME"] = str(tmp_path / "home")

    def migrate():
        return subprocess.run([sys.executable, "-m", "roz_pipeline.cli", "db", "migrate"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)

    assert migrate().returncode == 0
    (tmp_path / "home" / "pgdata" / PGSERVER_HANDLE_LIST).write_text("")  # what a kill mid-write leaves
    result = migrate()

    assert result.returncode == 0, result.stderr[-2000:]
    assert "half written" in result.stderr and "up to date" in result.stdout
