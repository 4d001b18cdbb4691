-- Day partitions, step 2 of 5 (011 says why and how): validate the cutover constraints 011 added. Each VALIDATE scans
-- its table holding SHARE UPDATE EXCLUSIVE, which readers and writers do not wait for; run again after a failure,
-- it scans again. On a hypertable (no constraints added) there is nothing to validate.

DO $$
DECLARE
    keyed TEXT;
BEGIN
    FOREACH keyed IN ARRAY ARRAY['heatmap_minutes', 'heatmap_minute_sources', 'heatmap_minute_cells',
                                 'heatmap_region_minutes', 'clip_inventory'] LOOP
        IF EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = keyed::regclass AND conname = keyed || '_before_days') THEN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', keyed, keyed || '_before_days');
        END IF;
    END LOOP;
END;
$$;
