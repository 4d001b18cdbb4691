-- clip_inventory: every clip the store holds, as Roz discovered it (folder watermarks, S3 listings or S3 event
-- notifications), and whether its minutes were computed from that version of it. new_clips_sensor asks this table
-- which ended partitions have unread clips instead of listing the store's history every tick.
--
-- A clip is unread while its minutes were never computed from its current version (read_version), or only up to a
-- point of its recording (read_until: a run over a window stops reading a clip that runs past the window's end;
-- NULL once it was read to its end or found unreadable). A row is never deleted when its object goes away:
-- gone_at says when (its minutes stay as they were). observed_at orders what discovery saw: a listing or event
-- older than the stored row never replaces it. Rows older than the late-clip window are pruned nightly.
--
-- clip_store_problems: keys and folders the pipeline cannot use (off the layout, an unregistered camera), each
-- recorded once; a problem of an unregistered camera ends when the camera is registered (camera_name).
-- clip_folders: the watermark of each local folder listed (its mtime and ctime at the listing): a folder whose
-- stat differs is listed again; the others are not.

CREATE TABLE clip_inventory (
    store        TEXT COLLATE "C" NOT NULL,
    clip_key     TEXT COLLATE "C" NOT NULL,
    camera_name  TEXT             NOT NULL,
    clip_start   TIMESTAMPTZ      NOT NULL,
    size_bytes   BIGINT           CHECK (size_bytes >= 0),
    version      TEXT             NOT NULL,
    modified_at  TIMESTAMPTZ      NOT NULL,
    observed_at  TIMESTAMPTZ      NOT NULL,
    first_seen   TIMESTAMPTZ      NOT NULL DEFAULT now(),
    gone_at      TIMESTAMPTZ,
    read_version TEXT,
    read_until   TIMESTAMPTZ,
    read_at      TIMESTAMPTZ,
    CONSTRAINT clip_inventory_pkey PRIMARY KEY (store, clip_key)
);

CREATE INDEX idx_clip_inventory_camera_start ON clip_inventory (store, camera_name, clip_start);
-- Local files still being written (modified in the last minutes) are stat'ed again on every look.
CREATE INDEX idx_clip_inventory_modified ON clip_inventory (store, camera_name, modified_at);
-- What no run has read yet: small at steady state (the clips since the last run), whatever the history.
CREATE INDEX idx_clip_inventory_unread ON clip_inventory (store, clip_start)
    WHERE gone_at IS NULL AND (read_version IS DISTINCT FROM version OR read_until IS NOT NULL);

CREATE TABLE clip_store_problems (
    store       TEXT COLLATE "C" NOT NULL,
    clip_key    TEXT COLLATE "C" NOT NULL,
    camera_name TEXT,
    message     TEXT             NOT NULL,
    first_seen  TIMESTAMPTZ      NOT NULL DEFAULT now(),
    CONSTRAINT clip_store_problems_pkey PRIMARY KEY (store, clip_key)
);

CREATE TABLE clip_folders (
    store     TEXT COLLATE "C" NOT NULL,
    folder    TEXT COLLATE "C" NOT NULL,
    mtime_ns  BIGINT           NOT NULL,
    ctime_ns  BIGINT           NOT NULL,
    listed_at TIMESTAMPTZ      NOT NULL,
    CONSTRAINT clip_folders_pkey PRIMARY KEY (store, folder)
);

COMMENT ON TABLE clip_inventory IS 'Every clip the store holds, as discovered, and whether its minutes were computed';
COMMENT ON COLUMN clip_inventory.store IS 'The clip store: file:///root/ or s3://bucket/prefix/';
COMMENT ON COLUMN clip_inventory.clip_key IS 'Key under the store (heatmap_minute_sources.clip_keys)';
COMMENT ON COLUMN clip_inventory.camera_name IS 'The camera''s name in the key (cameras.yaml: its id or source_name)';
COMMENT ON COLUMN clip_inventory.clip_start IS 'When its first frame was recorded, from the key and the layout';
COMMENT ON COLUMN clip_inventory.version IS 'The store''s version of it: ETag (S3) or mtime in ns and size (local)';
COMMENT ON COLUMN clip_inventory.observed_at IS 'When the listing or event this row reflects happened';
COMMENT ON COLUMN clip_inventory.read_version IS 'The version its minutes were computed from (NULL: never)';
COMMENT ON COLUMN clip_inventory.read_until IS
    'Recording time up to which read_version was read; NULL when to its end (or found unreadable)';
COMMENT ON TABLE clip_store_problems IS 'Keys and folders of the clip store the pipeline cannot use, each once';
COMMENT ON TABLE clip_folders IS 'Local folders as last listed: their mtime and ctime then';

COMMENT ON COLUMN heatmap_minute_sources.inputs_fingerprint IS
    'sha256 of the keys, sizes and versions of the clips read for the minute: equal fingerprints, equal inputs';
