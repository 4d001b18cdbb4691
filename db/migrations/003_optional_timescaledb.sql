-- TimescaleDB, when the server has it: heatmap_minutes becomes a hypertable (1-day chunks), compressed per camera
-- once its chunks are 7 days old. Without the extension (or without it in shared_preload_libraries) this logs a
-- NOTICE and changes nothing; after installing TimescaleDB later, run `SELECT roz_enable_timescaledb();`.

CREATE FUNCTION roz_enable_timescaledb() RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE NOTICE 'TimescaleDB is not installed on this server: heatmap_minutes stays a plain table';
        RETURN 'not installed';
    END IF;
    IF current_setting('shared_preload_libraries') NOT LIKE '%timescaledb%' THEN
        RAISE NOTICE 'TimescaleDB is installed but not in shared_preload_libraries: heatmap_minutes stays a plain table';
        RETURN 'not preloaded';
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    -- Called dynamically: these functions do not exist on servers without the extension.
    EXECUTE $sql$
        SELECT create_hypertable('heatmap_minutes', 'timestamp',
                                 chunk_time_interval => INTERVAL '1 day',
                                 migrate_data => true, if_not_exists => true)
    $sql$;
    EXECUTE $sql$
        ALTER TABLE heatmap_minutes SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'camera_id',
            timescaledb.compress_orderby = '"timestamp" DESC')
    $sql$;
    EXECUTE $sql$ SELECT add_compression_policy('heatmap_minutes', INTERVAL '7 days', if_not_exists => true) $sql$;
    RETURN 'enabled';
END;
$$;

SELECT roz_enable_timescaledb();
