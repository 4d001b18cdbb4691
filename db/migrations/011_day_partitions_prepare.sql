-- Day partitions, step 1 of 5 (011-015): heatmap_minutes, the tables keyed by its minutes (heatmap_minute_sources,
-- heatmap_minute_cells, heatmap_region_minutes) and clip_inventory (by clip_start) become partitioned by UTC day,
-- online.
--
-- Why: the nightly retention then drops an expired day's partitions instead of deleting its rows (no dead rows, no
-- WAL for them, nothing left to VACUUM), the clip inventory forgets a day the same way, and VACUUM ANALYZE visits
-- only the partitions that changed.
--
-- How, with readers and writers never waiting longer than the runner's lock_timeout: no row moves. Each existing
-- table becomes the partition "everything before the cutover" of its new parent, dropped whole by the retention once
-- the newest of its rows has expired (until then the retention deletes from it, as before); every day from the
-- cutover on gets partitions of its own (heatmap_day_partitions, 014). A table joins a parent without being scanned
-- under a lock when a validated CHECK constraint already proves its range: this step adds that constraint NOT VALID
-- (catalog only), 012 validates it (one scan, beside which reads and writes go on: SHARE UPDATE EXCLUSIVE), 013
-- builds clip_inventory's key with clip_start concurrently, 014 swaps the tables (catalog only), 015 makes the days
-- ahead. The cutover is the UTC day after tomorrow, or the day after the newest stored minute or clip if that is
-- later, so that nothing written meanwhile falls after it.
--
-- A heatmap_minutes that TimescaleDB already made a hypertable (003) is left as it is: its chunks are days already.

CREATE FUNCTION heatmap_is_hypertable() RETURNS BOOLEAN LANGUAGE plpgsql STABLE AS $$
DECLARE
    found BOOLEAN := false;
BEGIN
    IF to_regclass('_timescaledb_catalog.hypertable') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable WHERE table_name = $1)'
            INTO found USING 'heatmap_minutes';
    END IF;
    RETURN found;
END;
$$;

DO $$
DECLARE
    cutover TIMESTAMPTZ := greatest(
        date_trunc('day', now(), 'UTC') + INTERVAL '2 days',
        date_trunc('day', (SELECT max("timestamp") FROM heatmap_minutes), 'UTC') + INTERVAL '1 day',
        date_trunc('day', (SELECT max(clip_start) FROM clip_inventory), 'UTC') + INTERVAL '1 day');
    keyed TEXT;
BEGIN
    IF heatmap_is_hypertable() THEN
        RAISE NOTICE 'heatmap_minutes is a TimescaleDB hypertable: its chunks are days already, no day partitions';
        RETURN;
    END IF;
    FOREACH keyed IN ARRAY ARRAY['heatmap_minutes', 'heatmap_minute_sources', 'heatmap_minute_cells',
                                 'heatmap_region_minutes'] LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK ("timestamp" < %L) NOT VALID',
                       keyed, keyed || '_before_days', cutover);
    END LOOP;
    EXECUTE format('ALTER TABLE clip_inventory ADD CONSTRAINT clip_inventory_before_days CHECK (clip_start < %L) NOT VALID',
                   cutover);
END;
$$;
