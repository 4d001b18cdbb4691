-- Region series: each stored minute's activity inside each named region of cameras.yaml, so that "when did
-- something move at the door" reads one number per minute instead of decoding every minute's array.
--
-- heatmap_regions holds each camera's regions as the series were computed for (in source pixels, as in
-- cameras.yaml); `complete` is true once every stored minute has a value for that rectangle. A query whose region
-- differs from the stored one, or is not complete yet, reads the arrays instead (same answer, slower). Values go
-- with their minute (ON DELETE CASCADE): the retention needs no change.

CREATE TABLE heatmap_regions (
    camera_id  VARCHAR(50)  NOT NULL,
    region     TEXT         NOT NULL,
    x0         INT          NOT NULL,
    y0         INT          NOT NULL,
    x1         INT          NOT NULL,
    y1         INT          NOT NULL,
    complete   BOOLEAN      NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT heatmap_regions_pkey PRIMARY KEY (camera_id, region),
    CONSTRAINT heatmap_regions_rectangle CHECK (x0 >= 0 AND y0 >= 0 AND x0 < x1 AND y0 < y1)
);

CREATE TABLE heatmap_region_minutes (
    camera_id   VARCHAR(50)      NOT NULL,
    region      TEXT             NOT NULL,
    "timestamp" TIMESTAMPTZ      NOT NULL,
    activity    DOUBLE PRECISION NOT NULL CHECK (activity >= 0),
    CONSTRAINT heatmap_region_minutes_pkey PRIMARY KEY (camera_id, region, "timestamp"),
    CONSTRAINT heatmap_region_minutes_minute_fkey FOREIGN KEY (camera_id, "timestamp")
        REFERENCES heatmap_minutes (camera_id, "timestamp") ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX idx_heatmap_region_minutes_minute ON heatmap_region_minutes (camera_id, "timestamp");

COMMENT ON TABLE heatmap_regions IS 'Named regions of each camera (source pixels) and whether their series is complete';
COMMENT ON TABLE heatmap_region_minutes IS
    'Per camera, region and minute: the sum of the minute''s intensity_array inside the region';
COMMENT ON COLUMN heatmap_region_minutes.activity IS
    'Sum (float64) of intensity_array over the heatmap pixels the region covers at the minute''s downscale_factor';
