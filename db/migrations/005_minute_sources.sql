-- heatmap_minute_sources: what each stored minute was built from, so "no footage" and "no motion" differ.
--
-- One row per heatmap_minutes row, written in the same transaction: the clips that gave the minute frames (in
-- recording order; heatmap_minutes.video_path is the first), the seconds of footage they covered (60 for a fully
-- recorded minute, less where a recorder left a hole), the clips that were damaged, unreadable or overlapping, a
-- fingerprint of the inputs (keys and sizes of the clips read), and when the clip store was listed for it: a row
-- computed from an older listing never replaces one from a newer listing (late clips, runs started twice). A minute
-- with no row in heatmap_minutes had no footage at all. Rows go with their minute (ON DELETE CASCADE): the
-- retention needs no change.

CREATE TABLE heatmap_minute_sources (
    camera_id          VARCHAR(50)  NOT NULL,
    "timestamp"        TIMESTAMPTZ  NOT NULL,
    clip_keys          TEXT[]       NOT NULL CHECK (cardinality(clip_keys) > 0),
    covered_seconds    REAL         NOT NULL CHECK (covered_seconds > 0 AND covered_seconds <= 60),
    problem_clips      JSONB        NOT NULL DEFAULT '{}'::jsonb,
    inputs_fingerprint TEXT         NOT NULL,
    listed_at          TIMESTAMPTZ  NOT NULL,
    computed_at        TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT heatmap_minute_sources_pkey PRIMARY KEY (camera_id, "timestamp"),
    CONSTRAINT heatmap_minute_sources_minute_fkey FOREIGN KEY (camera_id, "timestamp")
        REFERENCES heatmap_minutes (camera_id, "timestamp") ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

COMMENT ON TABLE heatmap_minute_sources IS 'Per camera-minute: the clips a heatmap_minutes row was built from';
COMMENT ON COLUMN heatmap_minute_sources.clip_keys IS 'Keys (paths under the clip root or S3 prefix) in recording order';
COMMENT ON COLUMN heatmap_minute_sources.covered_seconds IS 'Seconds of footage in the minute: 60 when fully recorded';
COMMENT ON COLUMN heatmap_minute_sources.problem_clips IS
    'Clip key -> what went wrong with it in this minute (damaged, unreadable, overlapping another clip)';
COMMENT ON COLUMN heatmap_minute_sources.listed_at IS
    'When the clip store was listed for this computation: rows from older listings never replace it';
COMMENT ON COLUMN heatmap_minute_sources.inputs_fingerprint IS
    'sha256 of the keys and sizes of the clips read for the minute: equal fingerprints, equal inputs';
