"""db/README.md is a promise: every SQL block, the Python snippet and the commands it shows run here."""

import re
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from roz_pipeline.core.cells import cell_sums
from roz_pipeline.core.codec import decode_intensity, encode_intensity
from roz_pipeline.core.timesteps import HOUR, floor
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.connection import postgres_bin_dir
from roz_pipeline.storage.migrations import Migrator, dump_schema, split_statements
from roz_pipeline.storage.minutes import HeatmapMinute, write_minute
from roz_pipeline.usecases.rollups import roll_up_hour
from roz_pipeline_tests.helpers import MIGRATIONS, run_migrate_script, skip_or_fail

README = (REPO_ROOT / "db" / "README.md").read_text()
NOT_RUN = "not run by tests"


def _blocks(language: str) -> list[str]:
    """Code blocks of `language`, except those right after a 'not run by tests' comment."""
    blocks = []
    for match in re.finditer(rf"(?P<before>[^\n]*)\n```{language}\n(?P<body>.*?)```", README, re.DOTALL):
        if NOT_RUN not in match.group("before"):
            blocks.append(match.group("body"))
    return blocks


SQL_BLOCKS = _blocks("sql")
SETUP_BLOCK = next(b for b in SQL_BLOCKS if "CREATE USER" in b)
QUERY_BLOCKS = [b for b in SQL_BLOCKS if b is not SETUP_BLOCK]


def _minute(camera: str, when: datetime, fill: float = 3.0) -> HeatmapMinute:
    array = np.zeros((27, 48), np.float32)
    array[5:10, 10:20] = fill
    return HeatmapMinute(camera, when, f"{camera}/{when:%Y-%m-%d/%H-%M}.mp4", 27, 48, 40.0, encode_intensity(array),
                         150, float(array.sum()), float(array.max()), int(np.count_nonzero(array)))


@pytest.fixture
def db_with_rows(db):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for age in (timedelta(minutes=5), timedelta(minutes=30), timedelta(days=3), timedelta(days=100)):
        write_minute(db, _minute("default", now - age))
    return db


def test_readme_has_the_seed_queries_and_maintenance_sql():
    text = "\n".join(QUERY_BLOCKS)
    for expected in ("INTERVAL '1 hour'", "DATE_TRUNC('day', NOW())", "EXTRACT(HOUR FROM timestamp) = 14",
                     "NOW() - MAX(timestamp) as age", "SELECT cleanup_old_heatmaps(90)",
                     "pg_total_relation_size('heatmap_minutes')", "VACUUM ANALYZE heatmap_minutes"):
        assert expected in text


@pytest.mark.parametrize("block", QUERY_BLOCKS, ids=lambda b: " ".join(b.split())[:50])
def test_every_sql_block_runs_verbatim_on_a_migrated_database(db_with_rows, block):
    # db_with_rows is autocommit, like psql: VACUUM and the batch-committing procedure need that.
    for statement in split_statements(block):
        db_with_rows.execute(statement.encode())

    assert db_with_rows.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] >= 3


def _results(conn, block: str) -> list[list[tuple]]:
    """The rows of each statement of a README block that returns rows."""
    results = []
    for statement in split_statements(block):
        cursor = conn.execute(statement.encode())
        if cursor.description is not None:
            results.append(cursor.fetchall())
    return results


def _block(text: str) -> str:
    return next(b for b in QUERY_BLOCKS if text in b)


def test_the_readme_queries_answer_what_they_say(db):
    """Each query block's answer, checked against rows placed where the queries look (and some where they don't)."""
    now, exact_now = db.execute("SELECT date_trunc('minute', now()), now()").fetchone()
    two_pm = (now - timedelta(days=1)).replace(hour=14, minute=10)
    stored = {now - timedelta(minutes=5): 2.0, now - timedelta(minutes=6): 2.5, now - timedelta(minutes=30): 3.0,
              two_pm: 4.0,
              now - timedelta(days=3): 5.0, now - timedelta(days=100): 6.0}
    for when, fill in stored.items():
        write_minute(db, _minute("default", when, fill), region_activity={"door": fill * 10})
        write_minute(db, _minute("other", when, 1.0), region_activity={"door": 1.0})  # never in 'default' answers
    hours = sorted({floor(w, HOUR) for w in stored})
    for hour in hours:
        roll_up_hour(db, "default", hour, minutes_kept_since=now - timedelta(days=365))
    activity = {w: fill * 50 for w, fill in stored.items()}  # each minute: `fill` on 50 pixels

    def per_hour(minutes):
        sums = {}
        for when in minutes:
            sums[floor(when, HOUR)] = sums.get(floor(when, HOUR), 0) + activity[when]
        return sums

    (stats,) = _results(db, _block("FROM heatmap_stats"))
    expected = per_hour(stored)
    assert [(h, total) for h, _, total, _ in stats] == sorted(expected.items(), reverse=True)

    last_day, two_pm_hours = _results(db, _block("FROM heatmap_hourly"))
    in_last_day = {h: a for h, a in per_hour(stored).items() if h >= exact_now - timedelta(days=1)}
    assert [(h, covered, per_minute) for h, covered, per_minute in last_day] == [
        (h, sum(floor(w, HOUR) == h for w in stored), a / sum(floor(w, HOUR) == h for w in stored))
        for h, a in sorted(in_last_day.items())]
    two_pm_in_week = {h: a for h, a in per_hour(stored).items() if h.hour == 14 and h >= exact_now - timedelta(days=7)}
    assert sorted(decode_intensity(a, h, w).sum() for a, h, w, _ in two_pm_hours) == sorted(two_pm_in_week.values())

    (uncovered,) = _results(db, _block("with less than a full minute of footage"))
    in_last_hour = {w for w in stored if now - timedelta(hours=1) <= w < now}
    assert [m for m, _ in uncovered] == [now - timedelta(minutes=i) for i in range(60, 0, -1)
                                         if now - timedelta(minutes=i) not in in_last_hour]
    assert {covered for _, covered in uncovered} == {0}

    (last_hour,) = _results(db, _block("timestamp >= NOW() - INTERVAL '1 hour'\nORDER BY timestamp"))
    assert [decode_intensity(a, h, w).sum() for a, h, w in last_hour] == [activity[w] for w in sorted(in_last_hour)]

    (busiest,) = _results(db, _block("SUM(total_intensity) as activity"))
    today = {h: a for h, a in per_hour(stored).items() if h >= now.replace(hour=0, minute=0)}
    assert busiest == sorted(today.items(), key=lambda item: -item[1])

    (pattern,) = _results(db, _block("EXTRACT(HOUR FROM timestamp) = 14"))
    at_two_pm = [w for w in stored if w.hour == 14 and w >= now - timedelta(days=7)]
    assert sorted(decode_intensity(a, h, w).sum() for a, h, w in pattern) == sorted(activity[w] for w in at_two_pm)

    (at_the_door,) = _results(db, _block("FROM heatmap_region_minutes"))
    assert at_the_door == sorted(((w, fill * 10) for w, fill in stored.items() if w >= exact_now - timedelta(days=7)),
                                 key=lambda row: -row[1])

    (freshness,) = _results(db, _block("as last_data"))
    assert sorted((camera, last, minutes) for camera, last, _, minutes in freshness) == [
        ("default", max(stored), 6), ("other", max(stored), 6)]


def test_cleanup_block_deletes_only_the_expired_row(db_with_rows):
    cleanup = next(b for b in QUERY_BLOCKS if "SELECT cleanup_old_heatmaps(90)" in b)
    deleted = db_with_rows.execute(split_statements(cleanup)[0].encode()).fetchone()[0]

    assert deleted == 1
    assert db_with_rows.execute("SELECT count(*) FROM heatmap_minutes").fetchone()[0] == 3


def test_user_setup_block_gives_an_owner_that_can_migrate(postgres_admin_url):
    role, database = f"roz_user_{uuid.uuid4().hex[:8]}", f"roz_{uuid.uuid4().hex[:8]}"
    block = SETUP_BLOCK.replace("roz_user", role).replace("DATABASE roz ", f"DATABASE {database} ")
    try:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            for statement in split_statements(block):
                admin.execute(statement.encode())
        params = conninfo_to_dict(postgres_admin_url)
        as_owner = make_conninfo(postgres_admin_url, user=role, password="your_secure_password", dbname=database)
        if params.get("host", "").startswith("/"):
            as_owner = make_conninfo(as_owner, host=params["host"])

        applied = Migrator(as_owner, MIGRATIONS).migrate()

        assert len(applied) == len(list(MIGRATIONS.glob("*.sql")))
        with psycopg.connect(as_owner) as conn:
            assert conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'heatmap_minutes'").fetchone() == (role,)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_python_snippet_stores_and_decodes_a_row(migrated_database, monkeypatch):
    (snippet,) = [block for block in _blocks("python") if "zlib.compress" in block]
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    namespace: dict = {}

    exec(compile(snippet, "db/README.md", "exec"), namespace)

    heatmap = namespace["heatmap"]
    assert heatmap.shape == (270, 480) and heatmap.dtype == np.float32
    assert heatmap.sum() == 40 * 30 * 12 and heatmap[120, 215] == 12


def test_cells_snippet_reads_a_minutes_cells_and_a_rectangle_on_their_grid(db, migrated_database, monkeypatch):
    (snippet,) = [block for block in _blocks("python") if "heatmap_minute_cells" in block]
    heatmap = np.random.default_rng(4).random((270, 480), dtype=np.float32) * 30
    write_minute(db, HeatmapMinute.of("default", datetime(2026, 11, 20, 14, tzinfo=timezone.utc), "clip.mp4", heatmap,
                                      4, 900), cells=cell_sums(heatmap))
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    namespace: dict = {}

    exec(compile(snippet, "db/README.md", "exec"), namespace)

    assert namespace["cells"].shape == (14, 24) and namespace["cell_pixels"] == 20
    assert namespace["activity"] == pytest.approx(heatmap[40:180, 100:260].sum(dtype=np.float64), rel=1e-12)


def test_pg_dump_then_psql_restore_keeps_rows_byte_equal(db_with_rows, migrated_database, postgres_admin_url, tmp_path):
    bin_dir = postgres_bin_dir()
    backup = tmp_path / "backup.sql"
    with backup.open("w") as out:
        subprocess.run([bin_dir / "pg_dump", "--dbname", migrated_database], stdout=out, check=True)
    restored = f"roz_restored_{uuid.uuid4().hex[:8]}"
    admin = conninfo_to_dict(postgres_admin_url)
    createdb_args = ["--host", admin["host"]] if admin.get("host") else []
    createdb_args += ["--port", str(admin["port"])] if admin.get("port") else []
    subprocess.run([bin_dir / "createdb", "-U", admin.get("user", "postgres"), *createdb_args, restored], check=True)
    restored_url = make_conninfo(migrated_database, dbname=restored)
    try:
        with backup.open() as dump:
            subprocess.run([bin_dir / "psql", "--quiet", "-v", "ON_ERROR_STOP=1", restored_url],
                           stdin=dump, check=True, capture_output=True)
        query = 'SELECT * FROM heatmap_minutes ORDER BY camera_id, "timestamp"'
        with psycopg.connect(restored_url) as conn:
            restored_rows = conn.execute(query).fetchall()
            assert Migrator(restored_url, MIGRATIONS).pending() == []
        assert restored_rows == db_with_rows.execute(query).fetchall()
        assert len(restored_rows) == 4
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored)))


def test_dump_schema_command_writes_the_committed_schema(migrated_database, tmp_path, roz):
    out = tmp_path / "schema.sql"
    result = roz("db", "dump-schema", "--out", str(out), env={"DATABASE_URL": migrated_database})

    assert result.returncode == 0, result.stderr
    assert out.read_text() == (REPO_ROOT / "db" / "schema.sql").read_text()


def test_repair_command_accepts_an_edited_file(migrated_database, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    (migrations / "002_add_retention_policy.sql").write_text(
        "-- reworded comment\n" + (migrations / "002_add_retention_policy.sql").read_text())

    refused = run_migrate_script(["--dir", str(migrations)], migrated_database)
    repaired = run_migrate_script(["--dir", str(migrations), "repair"], migrated_database)
    status = run_migrate_script(["--dir", str(migrations), "status"], migrated_database)

    assert refused.returncode == 2 and "002_add_retention_policy.sql was edited" in refused.stderr
    assert repaired.returncode == 0 and "realigned 1 checksum(s): 002_add_retention_policy.sql" in repaired.stdout
    assert status.returncode == 0


def test_schema_sql_is_what_the_migrations_produce(migrated_database):
    committed = (REPO_ROOT / "db" / "schema.sql").read_text()

    assert dump_schema(migrated_database) == committed, "db/schema.sql is stale: run `roz db dump-schema`"


def test_kysely_codegen_types_every_column_and_the_stats_view(migrated_database, tmp_path):
    codegen = REPO_ROOT / "db" / "kysely" / "node_modules" / ".bin" / "kysely-codegen"
    if not codegen.exists() or not shutil.which("node"):
        skip_or_fail("kysely-codegen is not installed: run `npm ci --prefix db/kysely`")
    params = conninfo_to_dict(migrated_database)
    url = f"postgres://{params.get('user', 'postgres')}@localhost/{params['dbname']}?host={params.get('host')}"
    if params.get("port"):
        url += f"&port={params['port']}"
    out = tmp_path / "db.d.ts"

    subprocess.run([codegen, "--dialect", "postgres", "--url", url, "--include-pattern", "public.*",
                    "--out-file", out], check=True, capture_output=True, timeout=120)

    types = out.read_text()
    minutes = re.search(r"export interface HeatmapMinutes \{(.*?)\}", types, re.DOTALL).group(1)
    for column in ("id: Generated<Int8>", "camera_id: string", "timestamp: Timestamp", "video_path: string",
                   "height: number", "width: number", "downscale_factor: number", "intensity_array: Buffer",
                   "frame_count: number", "total_intensity: number", "max_intensity: number",
                   "nonzero_pixels: number", "processed_at: Generated<Timestamp>"):
        assert column in minutes, column
    assert "export interface HeatmapStats" in types and "heatmap_stats: HeatmapStats" in types
    sources = re.search(r"export interface HeatmapMinuteSources \{(.*?)\}", types, re.DOTALL).group(1)
    for column in ("camera_id: string", "timestamp: Timestamp", "clip_keys: string[]", "covered_seconds: number",
                   "problem_clips: Generated<Json>", "inputs_fingerprint: string"):
        assert column in sources, column
