-- Day partitions, step 5 of 5: after the swap (014) and in a transaction of its own, so that the swap's locks are held only for
-- the catalog changes: today's partitions and the week ahead's, as the nightly maintenance keeps them, for writers
-- that make none of their own. Each day is attached holding SHARE UPDATE EXCLUSIVE: readers and writers go on.

SELECT heatmap_day_partitions(day::date)
FROM generate_series((now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date + 7, INTERVAL '1 day') AS day;
