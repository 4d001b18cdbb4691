"""Day partitions (db/migrations/011-015): an existing database converted online with its rows, days made for what is
written, expired days dropped whole (children first) while shorter windows still delete, the clip inventory's days
forgotten whole, VACUUM of what changed."""

from datetime import datetime, timedelta, timezone

import psycopg

from roz_pipeline.registry import Camera
from roz_pipeline.storage.inventory import StoredClip, clips_starting, upsert_clips
from roz_pipeline.storage.maintenance import VACUUMED_TABLES, table_stats, vacuum_analyze
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline.storage.minutes import MinuteSources, write_minute
from roz_pipeline.storage.partitions import partitions_of
from roz_pipeline.usecases.retention import apply_retention, forget_clips_before
from roz_pipeline_tests.helpers import MIGRATIONS, minute_row

UTC = timezone.utc
HOUR = timedelta(hours=1)
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
KEYED = ("heatmap_minutes", "heatmap_minute_sources", "heatmap_region_minutes", "clip_inventory")
STORE = "file:///recordings/"


def _migrations_up_to(directory, version: int):
    directory.mkdir()
    for path in MIGRATIONS.glob("*.sql"):
        if int(path.name.split("_")[0]) <= version:
            (directory / path.name).write_text(path.read_text())
    return directory


def _write_with_sources(conn, camera: str, when: datetime) -> None:
    write_minute(conn, minute_row(camera, when), MinuteSources(camera, when, ["clip.mp4"], 60.0, {}, "fp", NOW),
                 {"door": 1.0})


def _counts(conn) -> dict[str, int]:
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in KEYED}


def test_a_database_holding_rows_is_partitioned_with_every_row_while_a_writer_holds_its_transaction(
        empty_database, tmp_path):
    Migrator(empty_database, _migrations_up_to(tmp_path / "to_010", 10)).migrate()
    with psycopg.connect(empty_database, autocommit=True) as conn:
        for days_ago in range(5):
            for camera in ("lobby", "yard"):
                when = NOW - timedelta(days=days_ago)
                conn.execute(
                    "INSERT INTO heatmap_minutes (camera_id, \"timestamp\", video_path, height, width, "
                    "downscale_factor, intensity_array, frame_count, total_intensity, max_intensity, nonzero_pixels) "
                    "VALUES (%s, %s, 'clip.mp4', 1, 1, 4, '\\x00', 1, 0, 0, 0)", (camera, when))
                conn.execute("INSERT INTO heatmap_minute_sources (camera_id, \"timestamp\", clip_keys, covered_seconds,"
                             " inputs_fingerprint, listed_at) VALUES (%s, %s, '{clip.mp4}', 60, 'fp', now())",
                             (camera, when))
                conn.execute("INSERT INTO heatmap_region_minutes VALUES (%s, 'door', %s, 1)", (camera, when))
                conn.execute("INSERT INTO clip_inventory (store, clip_key, camera_name, clip_start, version, "
                             "modified_at, observed_at) VALUES (%s, %s, %s, %s, 'v1', %s, %s)",
                             (STORE, f"{camera}/{when:%Y%m%d%H%M}.mp4", camera, when, when, when))
        before = _counts(conn)
    Migrator(empty_database, _migrations_up_to(tmp_path / "to_011", 11)).migrate()

    # The one scan (012's VALIDATE) goes on beside a writer whose transaction holds its row lock: it never waits.
    with psycopg.connect(empty_database) as writer:
        writer.execute("INSERT INTO heatmap_minutes (camera_id, \"timestamp\", video_path, height, width, "
                       "downscale_factor, intensity_array, frame_count, total_intensity, max_intensity, "
                       "nonzero_pixels) VALUES ('porch', %s, 'clip.mp4', 1, 1, 4, '\\x00', 1, 0, 0, 0)", (NOW,))
        Migrator(empty_database, _migrations_up_to(tmp_path / "to_012", 12), lock_timeout="1s").migrate()
        writer.commit()
    applied = Migrator(empty_database, MIGRATIONS).migrate()

    assert [m.version for m in applied] == [13, 14, 15]
    with psycopg.connect(empty_database, autocommit=True) as conn:
        assert _counts(conn) == {**before, "heatmap_minutes": before["heatmap_minutes"] + 1}
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'heatmap_minutes'::regclass").fetchone() == ("p",)
        partitions = [name for name, _ in partitions_of(conn, "heatmap_minutes")]
        assert partitions[0] == "heatmap_minutes_before_days" and len(partitions) > 1
        assert conn.execute("SELECT count(*) FROM heatmap_minutes_before_days").fetchone()[0] == 11
        assert [name for name, _ in partitions_of(conn, "clip_inventory")][0] == "clip_inventory_before_days"
        # Writing goes on: a new day gets its partitions, and a minute's sources still go with it.
        _write_with_sources(conn, "lobby", NOW + timedelta(days=30))
        assert conn.execute("SELECT tableoid::regclass::text FROM heatmap_minutes WHERE \"timestamp\" = %s",
                            (NOW + timedelta(days=30),)).fetchone()[0].startswith("heatmap_minutes_p")
        conn.execute("DELETE FROM heatmap_minutes WHERE camera_id = 'lobby'")
        assert conn.execute("SELECT count(*) FROM heatmap_minute_sources WHERE camera_id = 'lobby'").fetchone() == (0,)


def test_a_minute_of_any_day_gets_its_days_partitions_and_a_second_write_replaces_it(db):
    for when in (NOW - timedelta(days=40), NOW, NOW + timedelta(days=400)):
        _write_with_sources(db, "lobby", when)
        _write_with_sources(db, "lobby", when)
        day = f"_p{when:%Y%m%d}"
        assert db.execute(f"SELECT count(*) FROM heatmap_minutes{day}").fetchone()[0] == 1
        assert db.execute(f"SELECT count(*) FROM heatmap_minute_sources{day}").fetchone()[0] == 1
        assert db.execute(f"SELECT count(*) FROM heatmap_region_minutes{day}").fetchone()[0] == 1


def _eight_days(conn, cameras) -> None:
    for days_ago in range(8):
        for camera in cameras:
            _write_with_sources(conn, camera, NOW - timedelta(days=days_ago, minutes=1))


def test_retention_drops_the_days_every_window_passed_and_deletes_what_a_shorter_window_expired(
        db, migrated_database):
    _eight_days(db, ("lobby", "yard"))
    cameras = [Camera("lobby", retention_days=2), Camera("yard", retention_days=5)]
    expired = {name for name, to_time in partitions_of(db, "heatmap_minutes") if to_time <= NOW - timedelta(days=5)}

    reports = list(apply_retention(cameras, lambda: psycopg.connect(migrated_database, autocommit=True),
                                   lambda: NOW))

    assert len(expired) >= 2 and not expired & {name for name, _ in partitions_of(db, "heatmap_minutes")}
    for table in ("heatmap_minute_sources", "heatmap_region_minutes"):  # their days went first
        assert db.execute("SELECT count(*) FROM pg_class WHERE relname = ANY(%s)",
                          ([name.replace("heatmap_minutes", table) for name in expired],)).fetchone()[0] == 0
    assert [(r.camera_id, r.rows_deleted) for r in reports] == [("lobby", 6), ("yard", 3)]
    assert db.execute("SELECT camera_id, count(*) FROM heatmap_minutes GROUP BY 1 ORDER BY 1").fetchall() == [
        ("lobby", 2), ("yard", 5)]
    assert _counts(db) == {"heatmap_minutes": 7, "heatmap_minute_sources": 7, "heatmap_region_minutes": 7,
                           "clip_inventory": 0}


def test_a_day_holding_rows_of_a_camera_whose_rows_are_kept_is_not_dropped(db, migrated_database):
    _eight_days(db, ("lobby", "gone"))
    partitions = partitions_of(db, "heatmap_minutes")

    reports = list(apply_retention([Camera("lobby", retention_days=2)],
                                   lambda: psycopg.connect(migrated_database, autocommit=True), lambda: NOW,
                                   kept_cameras=["gone"]))

    assert partitions_of(db, "heatmap_minutes") == partitions
    assert [(r.camera_id, r.rows_deleted) for r in reports] == [("lobby", 6)]
    assert db.execute("SELECT count(*) FROM heatmap_minutes WHERE camera_id = 'gone'").fetchone()[0] == 8


def test_the_seed_cleanup_function_drops_whole_expired_days_and_deletes_in_the_day_its_cutoff_falls_in(db):
    for days_ago in range(6):
        _write_with_sources(db, "lobby", NOW - timedelta(days=days_ago, minutes=1))
    partitions = len(partitions_of(db, "heatmap_minutes"))

    assert db.execute("SELECT cleanup_old_heatmaps(2)").fetchone()[0] == 4

    assert len(partitions_of(db, "heatmap_minutes")) < partitions
    assert db.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM heatmap_minute_sources").fetchone()[0] == 2


def test_vacuum_visits_the_days_that_changed_and_not_the_days_kept(db, migrated_database):
    for days_ago in range(4):
        _write_with_sources(db, "lobby", NOW - timedelta(days=days_ago + 2))
    first = vacuum_analyze(db)
    assert "heatmap_rollups" in first  # a plain table: itself
    assert all(table_stats(db, table).total_bytes > 0 for table in VACUUMED_TABLES)
    assert vacuum_analyze(db) == []  # nothing changed since

    with psycopg.connect(migrated_database) as writer:  # its statistics flushed as it commits
        writer.execute("SELECT pg_stat_force_next_flush()")
        _write_with_sources(writer, "lobby", NOW - timedelta(days=2))  # a late clip's minute, processed again
        writer.commit()

    day = f"_p{NOW - timedelta(days=2):%Y%m%d}"
    assert set(vacuum_analyze(db)) == {f"heatmap_minutes{day}", f"heatmap_minute_sources{day}",
                                       f"heatmap_region_minutes{day}"}


def _clip(key: str, start: datetime) -> StoredClip:
    return StoredClip(key, "lobby", start, 1000, "v1", start)


def test_the_clip_inventory_forgets_whole_days_and_the_clips_before_the_cutoff_in_its_day(db, migrated_database):
    upsert_clips(db, STORE, [_clip(f"lobby/{days}.mp4", NOW - timedelta(days=days)) for days in range(12)], NOW)
    partitions = {name for name, _ in partitions_of(db, "clip_inventory")}
    cutoff = NOW - timedelta(days=8, hours=1)
    expired = {name for name, to_time in partitions_of(db, "clip_inventory") if to_time <= cutoff}
    connect = lambda: psycopg.connect(migrated_database, autocommit=True)  # noqa: E731

    assert forget_clips_before(connect, connect, cutoff) == 3  # 9, 10 and 11 days old

    assert len(expired) >= 2 and {name for name, _ in partitions_of(db, "clip_inventory")} == partitions - expired
    assert [clip.key for clip in clips_starting(db, STORE, ["lobby"], NOW - timedelta(days=30), NOW + HOUR)] == [
        f"lobby/{days}.mp4" for days in range(8, -1, -1)]


def test_a_clip_the_layout_now_dates_otherwise_keeps_one_row(db):
    upsert_clips(db, STORE, [_clip("lobby/clip.mp4", NOW - timedelta(days=3))], NOW)

    assert upsert_clips(db, STORE, [_clip("lobby/clip.mp4", NOW - timedelta(days=3, hours=1))], NOW) == [
        "lobby/clip.mp4"]

    assert db.execute("SELECT clip_start FROM clip_inventory").fetchall() == [(NOW - timedelta(days=3, hours=1),)]


def test_clips_of_a_new_day_are_taken_in_while_a_lock_on_the_minutes_is_held(db, migrated_database):
    with psycopg.connect(migrated_database) as holder:
        holder.execute("LOCK TABLE heatmap_minutes IN EXCLUSIVE MODE")
        db.execute("SET lock_timeout = '1s'")

        assert upsert_clips(db, STORE, [_clip("lobby/old.mp4", NOW - timedelta(days=20))], NOW) == ["lobby/old.mp4"]

    day = f"_p{NOW - timedelta(days=20):%Y%m%d}"  # the inventory's day made, not the minutes'
    assert db.execute("SELECT to_regclass(%s), to_regclass(%s)", (f"clip_inventory{day}", f"heatmap_minutes{day}"),
                      ).fetchone() == (f"clip_inventory{day}", None)
