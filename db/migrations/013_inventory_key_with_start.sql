-- roz:no-transaction
-- Day partitions, step 3 of 5 (011 says why and how): clip_inventory's key gains clip_start, the column it is
-- partitioned by (a partitioned table's unique keys must hold it). Built beside readers and writers; 014 makes it the
-- primary key of the rows before the cutover, catalog only.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS clip_inventory_key_start ON clip_inventory (store, clip_key, clip_start);
