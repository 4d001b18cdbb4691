-- heatmap_minutes: one row per camera-minute, as db/README.md documents.
--
-- Differences from the seed, and why:
-- * The primary key is (id, "timestamp"), not id alone: TimescaleDB hypertables and native partitioning
--   require every unique key to include the partitioning column.
-- * (camera_id, "timestamp") is unique, so a re-processed minute replaces its row instead of duplicating it.
--   Its index serves camera + time range queries, so it carries the seed's name idx_heatmap_camera_time.
-- * intensity_array is already zlib-compressed: STORAGE EXTERNAL keeps TOAST from trying to compress it again.

CREATE TABLE heatmap_minutes (
    id               BIGSERIAL    NOT NULL,
    camera_id        VARCHAR(50)  NOT NULL,
    "timestamp"      TIMESTAMPTZ  NOT NULL,
    video_path       TEXT         NOT NULL,
    height           INT          NOT NULL CHECK (height > 0),
    width            INT          NOT NULL CHECK (width > 0),
    downscale_factor REAL         NOT NULL CHECK (downscale_factor > 0),
    intensity_array  BYTEA        NOT NULL,
    frame_count      INT          NOT NULL CHECK (frame_count >= 0),
    total_intensity  REAL         NOT NULL CHECK (total_intensity >= 0),
    max_intensity    REAL         NOT NULL CHECK (max_intensity >= 0),
    nonzero_pixels   INT          NOT NULL CHECK (nonzero_pixels >= 0),
    processed_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT heatmap_minutes_pkey PRIMARY KEY (id, "timestamp"),
    CONSTRAINT idx_heatmap_camera_time UNIQUE (camera_id, "timestamp")
);

ALTER TABLE heatmap_minutes ALTER COLUMN intensity_array SET STORAGE EXTERNAL;

COMMENT ON TABLE heatmap_minutes IS 'Per-minute motion heatmaps, one row per camera-minute';
COMMENT ON COLUMN heatmap_minutes."timestamp" IS 'Start of the minute (UTC)';
COMMENT ON COLUMN heatmap_minutes.video_path IS 'S3 key or local path of the source clip';
COMMENT ON COLUMN heatmap_minutes.intensity_array IS
    'zlib.compress(float32 array of height x width, C order): per pixel, the number of frames in which it moved';

CREATE INDEX idx_heatmap_time ON heatmap_minutes ("timestamp");
CREATE INDEX idx_heatmap_activity ON heatmap_minutes (camera_id, total_intensity DESC);
CREATE INDEX idx_heatmap_video_path ON heatmap_minutes (video_path);

-- Hourly statistics per camera for dashboards. Hours are UTC whatever the session's TimeZone.
CREATE VIEW heatmap_stats AS
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

COMMENT ON VIEW heatmap_stats IS 'Hourly activity per camera (UTC hours)';
