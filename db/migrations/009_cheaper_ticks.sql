-- What new_clips_sensor's tick asks, at a cost that does not grow with the history kept.
--
-- clip_inventory.unread: whether a clip has footage no run has read (008's rule, as a stored column). The planner
-- knows from its statistics that few rows are unread, so "which periods hold unread footage" stays a scan of a
-- small partial index; over the bare expression it guessed nearly every row and planned a parallel scan (~5 ms a
-- tick with a week of history instead of 0.03 ms).
--
-- clip_folders: what a local folder held when it was last listed: how many files, the greatest name and a digest
-- of the sorted names. A recorder appends: when a folder's marks change and the names up to the greatest one are
-- still exactly those of the last listing, only the names after it are new and nothing was removed, so the
-- listing is compared with the inventory for those alone instead of for every clip the folder holds. Any other
-- change (a file removed, an older name added: a late clip) compares the whole folder as before. NULL: unknown
-- (listed before this migration), compared in full once.

ALTER TABLE clip_inventory
    ADD COLUMN unread BOOLEAN NOT NULL
        GENERATED ALWAYS AS (gone_at IS NULL AND (read_version IS DISTINCT FROM version OR read_until IS NOT NULL))
        STORED;
CREATE INDEX idx_clip_inventory_unread_clips ON clip_inventory (store, clip_start) WHERE unread;
DROP INDEX idx_clip_inventory_unread;
COMMENT ON COLUMN clip_inventory.unread IS
    'Held, and its current version not read to its end: footage no stored minute was built from';

ALTER TABLE clip_folders
    ADD COLUMN file_count INTEGER CHECK (file_count >= 0),
    ADD COLUMN last_file TEXT COLLATE "C",
    ADD COLUMN files_digest TEXT;
COMMENT ON COLUMN clip_folders.file_count IS 'Files directly in the folder at its last listing';
COMMENT ON COLUMN clip_folders.last_file IS 'The greatest file name then (byte order)';
COMMENT ON COLUMN clip_folders.files_digest IS 'Digest of the sorted file names then (clips.discovery.names_digest)';
