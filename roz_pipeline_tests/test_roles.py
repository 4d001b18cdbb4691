"""db/roles.sql: a migrator that owns the schema, a writer the pipeline runs as, a read-only reader."""

import psycopg
import pytest
from dagster import AssetKey, instance_for_test, materialize

from roz_pipeline.defs import build_definitions
from roz_pipeline.lib.resources import HeatmapDatabase, LocalClips
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.maintenance import vacuum_analyze
from roz_pipeline.storage.migrations import Migrator
from roz_pipeline_tests.helpers import (
    MIGRATIONS,
    T0,
    as_role,
    asset_def,
    drop_roles_objects,
    local_defs,
    make_clip,
    registry_file,
    rows,
    run_migrate_script,
    run_range,
)


def test_migrator_owns_the_schema_writer_runs_the_pipeline_reader_only_reads(database_with_roles, tmp_path):
    migrator_url = as_role(database_with_roles, "roz_migrator")
    writer_url = as_role(database_with_roles, "roz_writer")
    reader_url = as_role(database_with_roles, "roz_reader")
    Migrator(migrator_url, MIGRATIONS).migrate()
    with psycopg.connect(database_with_roles) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'heatmap_minutes'").fetchone()[0]
    assert owner == "roz_migrator"

    registry = registry_file(tmp_path)
    make_clip(tmp_path / "videos", "lobby", T0)
    with instance_for_test() as instance:
        result = run_range(local_defs(registry, tmp_path / "videos", writer_url, grain="minute"),
                           "lobby", T0, T0, instance)
    assert result.success
    assert len(rows(reader_url)) == 1

    with psycopg.connect(writer_url, autocommit=True) as writer:
        assert writer.execute("SELECT cleanup_old_heatmaps(30)").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("DROP TABLE heatmap_minutes")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("CREATE TABLE sneaky (id INT)")
        with pytest.raises(PermissionError, match="owner roz_migrator"):
            vacuum_analyze(writer)  # PostgreSQL itself would only warn and skip the table
    assert_history_is_the_migrators_alone(writer_url)
    resources = {"database": HeatmapDatabase(url=writer_url, schema_owner_url=migrator_url,
                                             migrations_dir=str(MIGRATIONS)),
                 "clips": LocalClips(root=str(tmp_path / "videos"))}
    defs = build_definitions(registry, resources, partitions_start="2026-11-01", grain="minute")
    with instance_for_test() as instance:  # the nightly VACUUM runs as the owner (ROZ_SCHEMA_OWNER_DATABASE_URL)
        assert defs.resolve_job_def("vacuum_analyze_job").execute_in_process(instance=instance).success
    with psycopg.connect(reader_url, autocommit=True) as reader:
        assert reader.execute("SELECT count(*) FROM heatmap_stats").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("DELETE FROM heatmap_minutes")


HISTORY_CHANGES = ("INSERT INTO roz_schema_history VALUES (999, 'x.sql', repeat('0', 64), now(), 0, 'me')",
                   "UPDATE roz_schema_history SET checksum = repeat('0', 64)",
                   "DELETE FROM roz_schema_history",
                   "TRUNCATE roz_schema_history")


def assert_history_is_the_migrators_alone(writer_url: str) -> None:
    with psycopg.connect(writer_url, autocommit=True) as writer:
        assert writer.execute("SELECT count(*) FROM roz_schema_history").fetchone()[0] > 0  # it may read it
        for statement in HISTORY_CHANGES:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute(statement)


def test_roles_added_to_a_migrated_database_leave_the_history_to_the_migrator(empty_database):
    with psycopg.connect(empty_database, autocommit=True) as admin:
        admin.execute((REPO_ROOT / "db" / "roles.sql").read_text().encode())
        admin.execute("DROP OWNED BY roz_writer")  # a clean slate: roles created, nothing granted yet
    Migrator(empty_database, MIGRATIONS).migrate()  # migrated by the database owner, before the roles' grants
    with psycopg.connect(empty_database, autocommit=True) as admin:
        admin.execute((REPO_ROOT / "db" / "roles.sql").read_text().encode())
    try:
        assert_history_is_the_migrators_alone(as_role(empty_database, "roz_writer"))
    finally:
        with psycopg.connect(empty_database, autocommit=True) as admin:
            drop_roles_objects(admin)


def _writer_and_owner(database_with_roles) -> dict:
    """An operator's environment: the pipeline as the writer, the schema owner configured beside it."""
    return {"DATABASE_URL": as_role(database_with_roles, "roz_writer"),
            "ROZ_SCHEMA_OWNER_DATABASE_URL": as_role(database_with_roles, "roz_migrator")}


def _table_owners(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        return {owner for (owner,) in conn.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema()").fetchall()}


def test_db_migrate_with_a_writer_database_url_migrates_as_the_schema_owner(database_with_roles, roz, tmp_path):
    result = roz("db", "migrate", env=_writer_and_owner(database_with_roles), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _table_owners(database_with_roles) == {"roz_migrator"}
    assert roz("db", "status").returncode == 0


def test_the_migrate_script_with_a_writer_database_url_migrates_as_the_schema_owner(database_with_roles,
                                                                                     monkeypatch):
    environment = _writer_and_owner(database_with_roles)
    monkeypatch.setenv("ROZ_SCHEMA_OWNER_DATABASE_URL", environment["ROZ_SCHEMA_OWNER_DATABASE_URL"])
    result = run_migrate_script([], environment["DATABASE_URL"])
    assert result.returncode == 0, result.stderr
    assert _table_owners(database_with_roles) == {"roz_migrator"}


def _defs_from_the_environment(database_with_roles, monkeypatch, tmp_path):
    for name, value in _writer_and_owner(database_with_roles).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ROZ_MIGRATIONS_DIR", str(MIGRATIONS))
    monkeypatch.setenv("ROZ_VIDEO_ROOT", str(tmp_path / "videos"))
    registry = registry_file(tmp_path)
    return build_definitions(registry, partitions_start="2026-11-01", grain="minute")


def test_the_schema_asset_migrates_as_the_schema_owner(database_with_roles, monkeypatch, tmp_path, instance):
    defs = _defs_from_the_environment(database_with_roles, monkeypatch, tmp_path)
    assert materialize([asset_def(defs, AssetKey("roz_schema"))], resources=defs.resources,
                       instance=instance).success
    assert _table_owners(database_with_roles) == {"roz_migrator"}


def test_a_camera_run_as_the_writer_migrates_a_new_database_as_the_schema_owner(database_with_roles, monkeypatch,
                                                                                tmp_path, instance):
    defs = _defs_from_the_environment(database_with_roles, monkeypatch, tmp_path)
    make_clip(tmp_path / "videos", "lobby", T0)
    assert run_range(defs, "lobby", T0, T0, instance).success
    assert _table_owners(database_with_roles) == {"roz_migrator"}
    assert len(rows(as_role(database_with_roles, "roz_reader"))) == 1
