-- heatmap_rollups: hourly and daily heatmaps per camera, in the same array format as heatmap_minutes.
--
-- An hour row is the sum of the hour's minute arrays; a day row is the sum of the day's hour rows. The rollups
-- have their own, longer retention (rollup_retention_days in cameras.yaml): once the nightly retention has
-- deleted a camera's raw minutes, their hours and days stay as they were (the pipeline never recomputes a rollup
-- whose minutes may be gone). Periods are UTC.
--
-- Hour-of-day patterns over weeks read a few dozen hour rows here instead of thousands of minutes.

CREATE TABLE heatmap_rollups (
    camera_id        VARCHAR(50)       NOT NULL,
    grain            TEXT              NOT NULL CHECK (grain IN ('hour', 'day')),
    period_start     TIMESTAMPTZ       NOT NULL,
    height           INT               NOT NULL CHECK (height > 0),
    width            INT               NOT NULL CHECK (width > 0),
    downscale_factor REAL              NOT NULL CHECK (downscale_factor > 0),
    intensity_array  BYTEA             NOT NULL,
    minutes_covered  INT               NOT NULL CHECK (minutes_covered > 0),
    frame_count      BIGINT            NOT NULL CHECK (frame_count >= 0),
    total_intensity  DOUBLE PRECISION  NOT NULL CHECK (total_intensity >= 0),
    max_intensity    REAL              NOT NULL CHECK (max_intensity >= 0),
    nonzero_pixels   INT               NOT NULL CHECK (nonzero_pixels >= 0),
    computed_at      TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT heatmap_rollups_pkey PRIMARY KEY (camera_id, grain, period_start),
    CONSTRAINT heatmap_rollups_minutes_fit CHECK (minutes_covered <= CASE grain WHEN 'hour' THEN 60 ELSE 1440 END)
);

ALTER TABLE heatmap_rollups ALTER COLUMN intensity_array SET STORAGE EXTERNAL;

-- Retention deletes by age across cameras.
CREATE INDEX idx_heatmap_rollups_period ON heatmap_rollups (grain, period_start);

COMMENT ON TABLE heatmap_rollups IS 'Hourly and daily heatmaps per camera: sums of the minute arrays';
COMMENT ON COLUMN heatmap_rollups.period_start IS 'Start of the UTC hour or day';
COMMENT ON COLUMN heatmap_rollups.intensity_array IS
    'zlib.compress(float32 array of height x width, C order): per pixel, the number of frames in which it moved';
COMMENT ON COLUMN heatmap_rollups.minutes_covered IS
    'Minutes summed; fewer than 60 (or 1440) when footage is missing. Divide by it for an average minute';

CREATE VIEW heatmap_hourly AS
SELECT camera_id, period_start AS hour, height, width, downscale_factor, intensity_array, minutes_covered,
       frame_count, total_intensity, max_intensity, nonzero_pixels, computed_at
FROM heatmap_rollups WHERE grain = 'hour';

CREATE VIEW heatmap_daily AS
SELECT camera_id, period_start AS day, height, width, downscale_factor, intensity_array, minutes_covered,
       frame_count, total_intensity, max_intensity, nonzero_pixels, computed_at
FROM heatmap_rollups WHERE grain = 'day';
