"""The migration runner against a real PostgreSQL: order, history, safety under concurrency and kills."""

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.migrations import (
    ADVISORY_LOCK_KEY,
    MigrationError,
    Migrator,
    load_migrations,
    split_statements,
)
from roz_pipeline_tests.helpers import MIGRATIONS, copy_migrations, registry_file, run_migrate_script

CONCURRENT_INDEX = """-- roz:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_rollups_minutes_covered ON heatmap_rollups (minutes_covered);
"""

SHIPPED_VERSIONS = sorted(int(path.name.split("_")[0]) for path in MIGRATIONS.glob("*.sql"))


def _objects(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        def names(query):
            return {row[0] for row in conn.execute(query)}

        return {
            "tables": names("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
            "views": names("SELECT viewname FROM pg_views WHERE schemaname = 'public'"),
            "indexes": names("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"),
            "routines": names(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public'"
            ),
        }


def test_empty_database_gets_every_object_and_a_second_run_applies_nothing(empty_database):
    migrator = Migrator(empty_database, MIGRATIONS)

    applied = migrator.migrate()

    assert [m.filename for m in applied] == [m.filename for m in load_migrations(MIGRATIONS)]
    objects = _objects(empty_database)
    assert {"heatmap_minutes", "roz_schema_history"} <= objects["tables"]
    assert "heatmap_stats" in objects["views"]
    assert {"idx_heatmap_camera_time", "idx_heatmap_time", "idx_heatmap_activity",
            "idx_heatmap_video_path", "heatmap_minutes_pkey"} <= objects["indexes"]
    assert {"cleanup_old_heatmaps", "cleanup_old_heatmaps_in_batches", "roz_enable_timescaledb"} <= objects["routines"]
    assert migrator.migrate() == []
    assert {s.state for s in migrator.status()} == {"applied"}


def test_a_question_to_a_database_never_migrated_says_how_to_create_the_tables(empty_database, tmp_path, roz):
    registry_file(tmp_path, {"lobby": {}})
    result = roz("timeline", "--camera", "lobby", "--from", "2026-11-20T14:00", "--to", "2026-11-20T16:00",
                 env={"DATABASE_URL": empty_database}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == ("roz: the database has no Roz tables yet, or not all of them: `roz materialize` "
                             "(or `roz db migrate`) creates them\n")


def test_history_records_checksum_duration_and_who_applied(migrated_database):
    history = Migrator(migrated_database, MIGRATIONS).applied()

    files = load_migrations(MIGRATIONS)
    assert [h.filename for h in history.values()] == [m.filename for m in files]
    assert [h.checksum for h in history.values()] == [m.checksum for m in files]
    for row in history.values():
        assert row.execution_ms >= 0 and row.applied_at is not None
        assert f"pid {os.getpid()}" in row.applied_by


def test_table_matches_the_seed_columns_and_keeps_toast_from_recompressing(db):
    columns = dict(db.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'heatmap_minutes' ORDER BY ordinal_position"
    ).fetchall())
    assert columns == {
        "id": "bigint", "camera_id": "character varying", "timestamp": "timestamp with time zone",
        "video_path": "text", "height": "integer", "width": "integer", "downscale_factor": "real",
        "intensity_array": "bytea", "frame_count": "integer", "total_intensity": "real",
        "max_intensity": "real", "nonzero_pixels": "integer", "processed_at": "timestamp with time zone",
    }
    storage = db.execute(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = 'heatmap_minutes'::regclass "
        "AND attname = 'intensity_array'"
    ).fetchone()[0]
    assert storage == "e"  # EXTERNAL: out of line, never compressed again
    primary_key = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'heatmap_minutes_pkey'"
    ).fetchone()[0]
    assert primary_key == 'PRIMARY KEY (id, "timestamp")'


def test_status_exit_codes_pending_up_to_date_edited_and_unreachable(empty_database, tmp_path):
    migrations = copy_migrations(tmp_path / "migrations")

    pending = run_migrate_script(["--dir", str(migrations), "status"], empty_database)
    assert pending.returncode == 1, pending.stderr
    assert "pending" in pending.stdout and "001_initial_schema.sql" in pending.stdout

    migrate = run_migrate_script(["--dir", str(migrations)], empty_database)
    assert migrate.returncode == 0, migrate.stderr

    up_to_date = run_migrate_script(["--dir", str(migrations), "status"], empty_database)
    assert up_to_date.returncode == 0 and "pending" not in up_to_date.stdout

    (migrations / "002_add_retention_policy.sql").write_text(
        "-- edited\n" + (migrations / "002_add_retention_policy.sql").read_text())
    edited = run_migrate_script(["--dir", str(migrations), "status"], empty_database)
    assert edited.returncode == 2 and "edited" in edited.stdout

    unreachable = run_migrate_script(["status"], "postgresql://roz:hunter2@127.0.0.1:1/roz", timeout=60)
    assert unreachable.returncode == 2
    assert "Traceback" not in unreachable.stderr and "hunter2" not in unreachable.stderr
    assert "cannot connect to postgresql://roz:***@127.0.0.1:1/roz" in unreachable.stderr


def test_edited_applied_file_is_refused_by_name_until_repair(empty_database, tmp_path):
    migrations = copy_migrations(tmp_path / "migrations")
    Migrator(empty_database, migrations).migrate()
    (migrations / "001_initial_schema.sql").write_text(
        (migrations / "001_initial_schema.sql").read_text().replace("VARCHAR(50)", "VARCHAR(60)", 1)
    )
    (migrations / "104_later.sql").write_text("CREATE TABLE later (id INT);\n")

    with pytest.raises(MigrationError, match="001_initial_schema.sql was edited after it was applied"):
        Migrator(empty_database, migrations).migrate()
    assert "later" not in _objects(empty_database)["tables"]

    assert Migrator(empty_database, migrations).repair() == ["001_initial_schema.sql"]
    assert [m.filename for m in Migrator(empty_database, migrations).migrate()] == ["104_later.sql"]


@pytest.mark.parametrize(
    "statement",
    ["BEGIN", "COMMIT", "START TRANSACTION", "ROLLBACK", "VACUUM heatmap_minutes", "VACUUM (ANALYZE) heatmap_minutes",
     "CREATE INDEX CONCURRENTLY idx_x ON heatmap_minutes (width)"],
)
def test_transactional_file_with_transaction_control_or_vacuum_is_refused_before_anything_runs(
    empty_database, tmp_path, statement
):
    migrations = copy_migrations(tmp_path / "migrations", {
        "104_bad.sql": f"CREATE TABLE before_bad (id INT);\n{statement};\nCREATE TABLE after_bad (id INT);\n"
    })

    with pytest.raises(MigrationError, match="104_bad.sql"):
        Migrator(empty_database, migrations).migrate()
    assert _objects(empty_database)["tables"] == set()  # refused while loading: not even 001 ran


def test_statement_splitter_ignores_semicolons_and_begin_inside_quotes_comments_and_bodies():
    text = """
    -- a comment; BEGIN;
    CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;
    /* block; COMMIT; */ SELECT 'it''s; fine', "odd;name" FROM t;
    DO $$ BEGIN PERFORM 1; END $$;
    """
    statements = split_statements(text)
    assert len(statements) == 3
    assert statements[0].startswith("-- a comment; BEGIN;\n    CREATE FUNCTION")


def test_no_transaction_file_must_hold_one_statement(empty_database, tmp_path):
    migrations = copy_migrations(tmp_path / "migrations", {
        "104_two.sql": "-- roz:no-transaction\nCREATE INDEX CONCURRENTLY a ON heatmap_minutes (width);\n"
                       "CREATE INDEX CONCURRENTLY b ON heatmap_minutes (height);\n"
    })
    with pytest.raises(MigrationError, match="104_two.sql: a -- roz:no-transaction file must hold exactly one"):
        Migrator(empty_database, migrations).migrate()


def test_eight_concurrent_runners_with_a_concurrent_index_all_succeed_once(empty_database, tmp_path):
    migrations = copy_migrations(tmp_path / "migrations", {
        "104_index_processed_at.sql": CONCURRENT_INDEX,
        "105_after_index.sql": "CREATE TABLE after_index (id INT);\n",
    })
    env = {**os.environ, "DATABASE_URL": empty_database}
    runners = [
        subprocess.Popen([sys.executable, str(REPO_ROOT / "db" / "migrate.py"), "--dir", str(migrations)],
                         cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    results = [(runner.wait(timeout=180), runner.stderr.read()) for runner in runners]

    assert [code for code, _ in results] == [0] * 8, results
    with psycopg.connect(empty_database) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM roz_schema_history ORDER BY version")]
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0]
    assert versions == [*SHIPPED_VERSIONS, 104, 105]
    assert invalid == 0
    assert sum("Applying 104_index_processed_at.sql" in err for _, err in results) == 1


def test_waiting_runner_gives_up_after_its_lock_wait(migrated_database, tmp_path):
    migrations = copy_migrations(tmp_path / "m", {"104_later.sql": "CREATE TABLE later (id INT);\n"})  # pending
    with psycopg.connect(migrated_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        started = time.monotonic()
        with pytest.raises(MigrationError, match="another migration runner held the lock"):
            Migrator(migrated_database, migrations, lock_wait_seconds=1).migrate()
        assert time.monotonic() - started < 30


def test_twenty_steps_on_a_current_schema_never_wait_for_the_migration_lock(migrated_database):
    from concurrent.futures import ThreadPoolExecutor

    with psycopg.connect(migrated_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))  # a long migration elsewhere
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda _: Migrator(migrated_database, MIGRATIONS, lock_wait_seconds=1).migrate(),
                                    range(20)))  # every camera's step checks before it writes

    assert results == [[]] * 20  # up to date: none took (or waited for) the lock


def _backend_running(url: str, text: str) -> int | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()", (f"%{text}%",)
        ).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("kill", ["sigkill_runner", "terminate_backend"])
def test_killed_migration_leaves_no_partial_object_or_history_and_next_run_succeeds(
    empty_database, tmp_path, kill
):
    migrations = copy_migrations(tmp_path / "migrations", {
        "104_slow.sql": "CREATE TABLE half_done (id INT);\nSELECT pg_sleep(60) /* roz-test-slow */;\n",
    })
    env = {**os.environ, "DATABASE_URL": empty_database}
    runner = subprocess.Popen([sys.executable, str(REPO_ROOT / "db" / "migrate.py"), "--dir", str(migrations)],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while (backend := _backend_running(empty_database, "roz-test-slow")) is None:
        assert time.monotonic() < deadline and runner.poll() is None, runner.stderr.read()
        time.sleep(0.1)

    if kill == "sigkill_runner":
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))  # after SIGKILL: the orphaned backend
    runner.wait(timeout=30)
    if kill == "terminate_backend":
        assert runner.returncode == 2
        assert b"104_slow.sql failed" in runner.stderr.read()

    assert "half_done" not in _objects(empty_database)["tables"]
    assert 104 not in Migrator(empty_database, migrations).applied()
    (migrations / "104_slow.sql").write_text("CREATE TABLE half_done (id INT);\n")  # never applied: may change
    assert [m.filename for m in Migrator(empty_database, migrations).migrate()] == ["104_slow.sql"]


def test_invalid_index_left_by_a_failed_concurrent_build_is_dropped_and_rebuilt(migrated_database, tmp_path):
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        for hour in range(2):  # two rows with the same array make the unique build fail halfway
            conn.execute(
                "INSERT INTO heatmap_rollups (camera_id, grain, period_start, height, width, downscale_factor, "
                "intensity_array, minutes_covered, frame_count, total_intensity, max_intensity, nonzero_pixels) "
                "VALUES ('cam', 'hour', date_trunc('hour', now()) - %s * interval '1 hour', 1, 1, 4, '\\x00', 1, 1, "
                "0, 0, 0)", (hour,)
            )
    migrations = copy_migrations(tmp_path / "migrations", {
        "104_unique_path.sql": "-- roz:no-transaction\n"
                               "CREATE UNIQUE INDEX CONCURRENTLY uq_array ON heatmap_rollups (intensity_array);\n"
    })
    with pytest.raises(MigrationError, match="104_unique_path.sql failed"):
        Migrator(migrated_database, migrations).migrate()
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0] == 1
        conn.execute("DELETE FROM heatmap_rollups WHERE ctid = (SELECT min(ctid) FROM heatmap_rollups)")

    assert [m.filename for m in Migrator(migrated_database, migrations).migrate()] == ["104_unique_path.sql"]
    with psycopg.connect(migrated_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0] == 0


def test_dry_run_lists_pending_and_applies_nothing(empty_database):
    result = run_migrate_script(["migrate", "--dry-run"], empty_database)

    assert result.returncode == 0, result.stderr
    assert "would apply 001_initial_schema.sql" in result.stdout
    assert _objects(empty_database)["tables"] == set()


def test_baseline_marks_a_hand_made_schema_applied_and_later_files_still_run(empty_database, tmp_path):
    with psycopg.connect(empty_database) as conn:
        conn.execute((MIGRATIONS / "001_initial_schema.sql").read_text().encode())
    result = run_migrate_script(["baseline", "1"], empty_database)
    assert result.returncode == 0, result.stderr

    applied = Migrator(empty_database, MIGRATIONS).migrate()

    assert [m.version for m in applied] == SHIPPED_VERSIONS[1:]


def test_new_file_numbered_below_an_applied_one_is_refused(migrated_database, tmp_path):
    migrations = copy_migrations(tmp_path / "migrations")
    (migrations / "110_newest.sql").write_text("SELECT 1;\n")
    Migrator(migrated_database, migrations).migrate()
    (migrations / "105_between.sql").write_text("SELECT 1;\n")

    with pytest.raises(MigrationError, match="105_between.sql would run after version 110"):
        Migrator(migrated_database, migrations).migrate()


def test_timescaledb_is_not_needed_once_the_tables_are_partitioned_by_day(db):
    assert db.execute("SELECT roz_enable_timescaledb()").fetchone()[0] == "partitioned by day"
    assert db.execute("SELECT relkind FROM pg_class WHERE oid = 'heatmap_minutes'::regclass").fetchone()[0] == "p"
    assert db.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0] == 0
