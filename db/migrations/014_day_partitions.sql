-- Day partitions, step 4 of 5 (011 says why and how): the swap, catalog changes only.
--
-- heatmap_minutes, heatmap_minute_sources, heatmap_minute_cells and heatmap_region_minutes become tables partitioned
-- by range of "timestamp", clip_inventory by range of clip_start, with the same columns, keys, indexes, comments and
-- grants; clip_inventory's primary key gains clip_start (013), so an upsert names (store, clip_key, clip_start).
-- The tables as they were become their "<table>_before_days" partitions (everything before the cutover) when they
-- hold rows, and are dropped when they do not (a new database). Day partitions are named "<table>_pYYYYMMDD" (a UTC
-- day) and made by heatmap_day_partitions(day): Roz calls it for the days it writes and the nightly maintenance for
-- the days ahead. A day's sources, cells and region values reference its minutes partition (ON DELETE CASCADE, as
-- before), so a day's partitions go children first; the retention drops a day once every camera's window has passed
-- it and deletes rows in the day its cutoff falls in (cleanup_old_heatmaps, below); the nightly pruning of the clip
-- inventory drops its days past the late-clip window. The primary key (id, "timestamp") and the other unique keys
-- of the minute tables already hold the partition column, as partitioning requires.

-- Each partition of a table partitioned by range of a timestamptz, with its bounds (-infinity for MINVALUE).
CREATE FUNCTION heatmap_partitions(parent REGCLASS)
RETURNS TABLE (partition REGCLASS, from_time TIMESTAMPTZ, to_time TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass,
           CASE WHEN bound[1] = 'MINVALUE' THEN '-infinity' ELSE btrim(bound[1], '''') END::timestamptz,
           CASE WHEN bound[2] = 'MAXVALUE' THEN 'infinity' ELSE btrim(bound[2], '''') END::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \((.+)\) TO \((.+)\)') AS bound
    WHERE i.inhparent = parent
    ORDER BY 3
$$;

-- The partitions of a UTC day that each of `tables` (NULL: all five) lacks: none where its partition of the rows from
-- before the day partitions holds the day, none for a table that is not partitioned (a TimescaleDB hypertable, 011).
CREATE FUNCTION heatmap_day_partitions_missing(day DATE, tables TEXT[] DEFAULT NULL) RETURNS TEXT[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(keyed ORDER BY position), '{}')
    FROM unnest(ARRAY['heatmap_minutes', 'heatmap_minute_sources', 'heatmap_minute_cells', 'heatmap_region_minutes',
                      'clip_inventory']) WITH ORDINALITY AS known(keyed, position)
    WHERE (tables IS NULL OR keyed = ANY(tables))
      AND to_regclass(keyed || '_p' || to_char(day, 'YYYYMMDD')) IS NULL
      AND (SELECT relkind FROM pg_class WHERE oid = keyed::regclass) = 'p'
      AND NOT EXISTS (SELECT 1 FROM heatmap_partitions(keyed::regclass)
                      WHERE from_time < (day + 1)::timestamp AT TIME ZONE 'UTC'
                        AND to_time > day::timestamp AT TIME ZONE 'UTC')
$$;

-- Creates the partitions of a UTC day that each of `tables` (NULL: all five) lacks; true when it made any. The
-- minute tables and the clip inventory are asked for apart, so that discovering clips never waits for a lock on the
-- minute tables. SECURITY DEFINER: the role that writes rows (db/roles.sql's roz_writer) does not own the tables,
-- and only an owner attaches.
CREATE FUNCTION heatmap_day_partitions(day DATE, tables TEXT[] DEFAULT NULL) RETURNS BOOLEAN
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    suffix      TEXT := '_p' || to_char(day, 'YYYYMMDD');
    lower_bound TIMESTAMPTZ := day::timestamp AT TIME ZONE 'UTC';
    upper_bound TIMESTAMPTZ := (day + 1)::timestamp AT TIME ZONE 'UTC';
    keyed       TEXT;
    made        BOOLEAN := false;
BEGIN
    FOREACH keyed IN ARRAY heatmap_day_partitions_missing(day, tables) LOOP
        PERFORM pg_advisory_xact_lock(hashtext(keyed || suffix));  -- writers of one new day: one makes it
        CONTINUE WHEN to_regclass(keyed || suffix) IS NOT NULL;
        -- CREATE TABLE + ATTACH (SHARE UPDATE EXCLUSIVE on the parent) rather than CREATE TABLE ... PARTITION OF,
        -- which would lock out every reader of the parent while it waits.
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                       'INCLUDING GENERATED)', keyed || suffix, keyed);
        IF keyed NOT IN ('heatmap_minutes', 'clip_inventory') THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (camera_id, "timestamp") '
                           'REFERENCES %I (camera_id, "timestamp") ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED',
                           keyed || suffix, keyed || suffix || '_minute_fkey', 'heatmap_minutes' || suffix);
        END IF;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       keyed, keyed || suffix, lower_bound, upper_bound);
        made := true;
    END LOOP;
    RETURN made;
END;
$$;

-- Drops every heatmap_minutes partition that ends at or before `cutoff`, each with the partitions of the tables that
-- reference it, first; returns the minutes they held. SECURITY DEFINER, for the roles that may delete minutes.
CREATE FUNCTION heatmap_drop_partitions_before(cutoff TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    expired   REGCLASS;
    reference REGCLASS;
    held      BIGINT;
    total     BIGINT := 0;
BEGIN
    IF NOT has_table_privilege(session_user, 'heatmap_minutes', 'DELETE') THEN
        RAISE EXCEPTION 'permission denied: % may not delete from heatmap_minutes', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR expired IN SELECT partition FROM heatmap_partitions('heatmap_minutes') WHERE to_time <= cutoff LOOP
        EXECUTE format('SELECT count(*) FROM %s', expired) INTO held;
        FOR reference IN SELECT conrelid::regclass FROM pg_constraint WHERE contype = 'f' AND confrelid = expired LOOP
            EXECUTE format('DROP TABLE %s', reference);
        END LOOP;
        EXECUTE format('DROP TABLE %s', expired);
        total := total + held;
    END LOOP;
    RETURN total;
END;
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION heatmap_day_partitions(DATE, TEXT[]) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION heatmap_drop_partitions_before(TIMESTAMPTZ) SET search_path = %I, pg_temp',
                   current_schema());
END;
$$;

-- One retention batch, as a time range: the rows before the cutoff up to the batch's last timestamp (one camera's are
-- unique in time, so exactly `batch_size`; for every camera, ties at that instant go in the same batch). A range
-- on the partition column is pruned to the partitions it falls in when the batch runs; 006's id lists were looked
-- up in every partition's primary key.
CREATE OR REPLACE FUNCTION heatmap_delete_batch(cutoff TIMESTAMPTZ, camera VARCHAR(50), batch_size INT)
RETURNS INT LANGUAGE plpgsql AS $$
DECLARE
    deleted INT;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'retention batch size must be at least 1 row, got %', coalesce(batch_size::TEXT, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF camera IS NULL THEN
        DELETE FROM heatmap_minutes
        WHERE "timestamp" < cutoff
          AND "timestamp" <= coalesce((
              SELECT "timestamp" FROM heatmap_minutes WHERE "timestamp" < cutoff
              ORDER BY "timestamp" OFFSET batch_size - 1 LIMIT 1), cutoff);
    ELSE
        DELETE FROM heatmap_minutes
        WHERE camera_id = camera AND "timestamp" < cutoff
          AND "timestamp" <= coalesce((
              SELECT "timestamp" FROM heatmap_minutes WHERE camera_id = camera AND "timestamp" < cutoff
              ORDER BY "timestamp" OFFSET batch_size - 1 LIMIT 1), cutoff);
    END IF;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$;

-- The seed's retention, unchanged in use: whole expired days are dropped (every camera's, so not for one camera),
-- then the rows before the cutoff are deleted in batches, as before, from the day the cutoff falls in.
CREATE OR REPLACE FUNCTION cleanup_old_heatmaps(days INT, camera VARCHAR(50) DEFAULT NULL, batch_size INT DEFAULT 5000)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    cutoff TIMESTAMPTZ := heatmap_retention_cutoff(days);
    batch INT;
    total BIGINT := 0;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        PERFORM heatmap_delete_batch(cutoff, camera, batch_size);  -- refuses it before anything is dropped
    END IF;
    IF camera IS NULL THEN
        total := heatmap_drop_partitions_before(cutoff);
    END IF;
    LOOP
        batch := heatmap_delete_batch(cutoff, camera, batch_size);
        total := total + batch;
        EXIT WHEN batch < batch_size;
    END LOOP;
    RETURN total;
END;
$$;

CREATE OR REPLACE PROCEDURE cleanup_old_heatmaps_in_batches(
    days INT, camera VARCHAR(50), batch_size INT, INOUT deleted BIGINT DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
    cutoff TIMESTAMPTZ := heatmap_retention_cutoff(days);
    batch INT;
BEGIN
    deleted := 0;
    IF batch_size IS NULL OR batch_size < 1 THEN
        PERFORM heatmap_delete_batch(cutoff, camera, batch_size);  -- refuses it before anything is dropped
    END IF;
    IF camera IS NULL THEN
        deleted := heatmap_drop_partitions_before(cutoff);
        COMMIT;
    END IF;
    LOOP
        batch := heatmap_delete_batch(cutoff, camera, batch_size);
        deleted := deleted + batch;
        COMMIT;
        EXIT WHEN batch < batch_size;
    END LOOP;
END;
$$;

-- TimescaleDB cannot make a partitioned table a hypertable; day partitions do what its chunks did. A hypertable made
-- by 003 before stays one (011 left it as it was).
CREATE OR REPLACE FUNCTION roz_enable_timescaledb() RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
    IF heatmap_is_hypertable() THEN
        RETURN 'enabled';
    END IF;
    RAISE NOTICE 'heatmap_minutes is partitioned by day (migration 014): TimescaleDB is not needed';
    RETURN 'partitioned by day';
END;
$$;

DO $$
DECLARE
    keyed   TEXT;
    cutover TIMESTAMPTZ;
    grant_  RECORD;
BEGIN
    IF heatmap_is_hypertable() THEN
        RETURN;
    END IF;
    SELECT (regexp_match(pg_get_constraintdef(oid), '''([^'']+)'''))[1]::timestamptz INTO cutover
    FROM pg_constraint WHERE conrelid = 'heatmap_minutes'::regclass AND conname = 'heatmap_minutes_before_days';

    ALTER TABLE heatmap_minutes RENAME TO heatmap_minutes_before_days;
    ALTER INDEX heatmap_minutes_pkey RENAME TO heatmap_minutes_before_days_pkey;
    ALTER INDEX idx_heatmap_camera_time RENAME TO heatmap_minutes_before_days_camera_time;
    ALTER INDEX idx_heatmap_time RENAME TO heatmap_minutes_before_days_time;
    ALTER INDEX idx_heatmap_activity RENAME TO heatmap_minutes_before_days_activity;
    ALTER INDEX idx_heatmap_video_path RENAME TO heatmap_minutes_before_days_video_path;
    ALTER TABLE heatmap_minute_sources RENAME TO heatmap_minute_sources_before_days;
    ALTER INDEX heatmap_minute_sources_pkey RENAME TO heatmap_minute_sources_before_days_pkey;
    ALTER TABLE heatmap_minute_cells RENAME TO heatmap_minute_cells_before_days;
    ALTER INDEX heatmap_minute_cells_pkey RENAME TO heatmap_minute_cells_before_days_pkey;
    ALTER TABLE heatmap_region_minutes RENAME TO heatmap_region_minutes_before_days;
    ALTER INDEX heatmap_region_minutes_pkey RENAME TO heatmap_region_minutes_before_days_pkey;
    ALTER INDEX idx_heatmap_region_minutes_minute RENAME TO heatmap_region_minutes_before_days_minute;
    ALTER TABLE clip_inventory RENAME TO clip_inventory_before_days;
    ALTER TABLE clip_inventory_before_days DROP CONSTRAINT clip_inventory_pkey;
    ALTER TABLE clip_inventory_before_days
        ADD CONSTRAINT clip_inventory_before_days_pkey PRIMARY KEY USING INDEX clip_inventory_key_start;
    ALTER INDEX idx_clip_inventory_camera_start RENAME TO clip_inventory_before_days_camera_start;
    ALTER INDEX idx_clip_inventory_modified RENAME TO clip_inventory_before_days_modified;
    ALTER INDEX idx_clip_inventory_unread_clips RENAME TO clip_inventory_before_days_unread_clips;

    FOREACH keyed IN ARRAY ARRAY['heatmap_minutes', 'heatmap_minute_sources', 'heatmap_minute_cells',
                                 'heatmap_region_minutes', 'clip_inventory'] LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                       'INCLUDING COMMENTS INCLUDING GENERATED) PARTITION BY RANGE (%I)', keyed, keyed || '_before_days',
                       CASE keyed WHEN 'clip_inventory' THEN 'clip_start' ELSE 'timestamp' END);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', keyed, keyed || '_before_days');
        EXECUTE format('COMMENT ON TABLE %I IS %L', keyed,
                       obj_description((keyed || '_before_days')::regclass, 'pg_class'));
        FOR grant_ IN SELECT a.privilege_type, a.grantee
                      FROM pg_class c, aclexplode(c.relacl) a
                      WHERE c.oid = (keyed || '_before_days')::regclass AND a.grantee <> c.relowner LOOP
            EXECUTE format('GRANT %s ON %I TO %s', grant_.privilege_type, keyed,
                           CASE WHEN grant_.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(grant_.grantee::regrole::text) END);
        END LOOP;
    END LOOP;
    ALTER TABLE heatmap_minutes
        ADD CONSTRAINT heatmap_minutes_pkey PRIMARY KEY (id, "timestamp"),
        ADD CONSTRAINT idx_heatmap_camera_time UNIQUE (camera_id, "timestamp");
    CREATE INDEX idx_heatmap_time ON heatmap_minutes ("timestamp");
    CREATE INDEX idx_heatmap_activity ON heatmap_minutes (camera_id, total_intensity DESC);
    CREATE INDEX idx_heatmap_video_path ON heatmap_minutes (video_path);
    ALTER SEQUENCE heatmap_minutes_id_seq OWNED BY heatmap_minutes.id;
    ALTER TABLE heatmap_minute_sources ADD CONSTRAINT heatmap_minute_sources_pkey PRIMARY KEY (camera_id, "timestamp");
    ALTER TABLE heatmap_minute_cells ADD CONSTRAINT heatmap_minute_cells_pkey PRIMARY KEY (camera_id, "timestamp");
    ALTER TABLE heatmap_region_minutes
        ADD CONSTRAINT heatmap_region_minutes_pkey PRIMARY KEY (camera_id, region, "timestamp");
    CREATE INDEX idx_heatmap_region_minutes_minute ON heatmap_region_minutes (camera_id, "timestamp");
    ALTER TABLE clip_inventory ADD CONSTRAINT clip_inventory_pkey PRIMARY KEY (store, clip_key, clip_start);
    CREATE INDEX idx_clip_inventory_camera_start ON clip_inventory (store, camera_name, clip_start);
    CREATE INDEX idx_clip_inventory_modified ON clip_inventory (store, camera_name, modified_at);
    CREATE INDEX idx_clip_inventory_unread_clips ON clip_inventory (store, clip_start) WHERE unread;

    CREATE OR REPLACE VIEW heatmap_stats AS
    SELECT
        camera_id,
        date_trunc('hour', "timestamp", 'UTC')  AS hour,
        count(*)                                AS minutes,
        sum(frame_count)::BIGINT                AS frames,
        sum(total_intensity::DOUBLE PRECISION)  AS total_activity,
        avg(total_intensity::DOUBLE PRECISION)  AS avg_activity,
        max(total_intensity)                    AS peak_minute_activity,
        max(max_intensity)                      AS peak_intensity,
        sum(nonzero_pixels)::BIGINT             AS nonzero_pixels
    FROM heatmap_minutes
    GROUP BY camera_id, date_trunc('hour', "timestamp", 'UTC');

    IF EXISTS (SELECT 1 FROM heatmap_minutes_before_days) THEN
        FOREACH keyed IN ARRAY ARRAY['heatmap_minutes', 'heatmap_minute_sources', 'heatmap_minute_cells',
                                     'heatmap_region_minutes'] LOOP
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                           keyed, keyed || '_before_days', cutover);
        END LOOP;
    ELSE
        DROP TABLE heatmap_region_minutes_before_days, heatmap_minute_cells_before_days,
                   heatmap_minute_sources_before_days, heatmap_minutes_before_days;
    END IF;
    IF EXISTS (SELECT 1 FROM clip_inventory_before_days) THEN
        EXECUTE format('ALTER TABLE clip_inventory ATTACH PARTITION clip_inventory_before_days '
                       'FOR VALUES FROM (MINVALUE) TO (%L)', cutover);
    ELSE
        DROP TABLE clip_inventory_before_days;
    END IF;
END;
$$;
