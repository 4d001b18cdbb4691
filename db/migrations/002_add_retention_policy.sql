-- Retention: delete rows older than a window, in batches that each use an index.
--
-- SELECT cleanup_old_heatmaps(90);            -- the seed's one-liner: every camera, one transaction
-- SELECT cleanup_old_heatmaps(30, 'lobby');   -- one camera
-- CALL cleanup_old_heatmaps_in_batches(90, NULL, 5000, NULL);
--                                             -- commits after every batch: no long transaction, no lock pile-up
--                                             -- (needs an autocommit connection; returns the row count)
-- A window below one day raises an error and deletes nothing: a typo must never empty the table.

CREATE FUNCTION heatmap_retention_cutoff(days INT) RETURNS TIMESTAMPTZ
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF days IS NULL OR days < 1 THEN
        RAISE EXCEPTION 'retention window must be at least 1 day, got %', days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN now() - make_interval(days => days);
END;
$$;

-- One batch: the oldest `batch_size` rows before `cutoff`, found through idx_heatmap_time (or
-- idx_heatmap_camera_time for one camera) and deleted by primary key.
CREATE FUNCTION heatmap_delete_batch(cutoff TIMESTAMPTZ, camera VARCHAR(50), batch_size INT)
RETURNS INT LANGUAGE plpgsql AS $$
DECLARE
    deleted INT;
BEGIN
    IF camera IS NULL THEN
        DELETE FROM heatmap_minutes
        WHERE id = ANY(ARRAY(
            SELECT id FROM heatmap_minutes
            WHERE "timestamp" < cutoff
            ORDER BY "timestamp" LIMIT batch_size))
          AND "timestamp" < cutoff;
    ELSE
        DELETE FROM heatmap_minutes
        WHERE id = ANY(ARRAY(
            SELECT id FROM heatmap_minutes
            WHERE camera_id = camera AND "timestamp" < cutoff
            ORDER BY "timestamp" LIMIT batch_size))
          AND "timestamp" < cutoff;
    END IF;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$;

CREATE FUNCTION cleanup_old_heatmaps(days INT, camera VARCHAR(50) DEFAULT NULL, batch_size INT DEFAULT 5000)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    cutoff TIMESTAMPTZ := heatmap_retention_cutoff(days);
    batch INT;
    total BIGINT := 0;
BEGIN
    LOOP
        batch := heatmap_delete_batch(cutoff, camera, batch_size);
        total := total + batch;
        EXIT WHEN batch < batch_size;
    END LOOP;
    RETURN total;
END;
$$;

COMMENT ON FUNCTION cleanup_old_heatmaps(INT, VARCHAR, INT) IS
    'Delete heatmap rows older than `days` (>= 1), optionally for one camera; returns the number deleted';

CREATE PROCEDURE cleanup_old_heatmaps_in_batches(
    days INT, camera VARCHAR(50), batch_size INT, INOUT deleted BIGINT DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
    cutoff TIMESTAMPTZ := heatmap_retention_cutoff(days);
    batch INT;
BEGIN
    deleted := 0;
    LOOP
        batch := heatmap_delete_batch(cutoff, camera, batch_size);
        deleted := deleted + batch;
        COMMIT;
        EXIT WHEN batch < batch_size;
    END LOOP;
END;
$$;
