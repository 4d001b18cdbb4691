-- Retention batches must be at least one row. Before this, a NULL batch size deleted every expired row in one
-- pass (LIMIT NULL is no limit) and then looped forever (`batch < NULL` is never true), and 0 looped forever
-- deleting nothing. Every batch loop (cleanup_old_heatmaps, cleanup_old_heatmaps_in_batches) goes through this
-- function, which now refuses such sizes before it deletes anything.

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
