-- Least-privilege roles for Roz (optional). Run once per database, as a superuser or the database owner,
-- BEFORE the first migration (or again afterwards: it also grants on existing objects):
--
--     psql -v ON_ERROR_STOP=1 -d roz -f db/roles.sql
--     psql -d roz -c "ALTER ROLE roz_migrator PASSWORD '...'"   -- likewise roz_writer, roz_reader
--
-- roz_migrator  owns the schema: runs `python db/migrate.py` and the nightly VACUUM (only an owner can vacuum).
-- roz_writer    the pipeline: reads and writes heatmap rows, runs retention; cannot change the schema.
-- roz_reader    the TypeScript/Kysely app and dashboards: SELECT only.
-- Roles are cluster-wide; passwords are not set here so that none is ever committed.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'roz_migrator') THEN
        CREATE ROLE roz_migrator LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'roz_writer') THEN
        CREATE ROLE roz_writer LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'roz_reader') THEN
        CREATE ROLE roz_reader LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO roz_migrator, roz_writer, roz_reader', current_database());
END
$$;

GRANT USAGE, CREATE ON SCHEMA public TO roz_migrator;
GRANT USAGE ON SCHEMA public TO roz_writer, roz_reader;

-- Objects the migrator creates from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE roz_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO roz_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE roz_migrator IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO roz_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE roz_migrator IN SCHEMA public
    GRANT SELECT ON TABLES TO roz_reader;

-- Objects that already exist (roles added to a migrated database).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO roz_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO roz_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO roz_reader;

-- The migration history is the migrator's alone (the runner also revokes this when it creates the table).
DO $$
BEGIN
    IF to_regclass('roz_schema_history') IS NOT NULL THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON roz_schema_history FROM roz_writer, roz_reader;
    END IF;
END
$$;
