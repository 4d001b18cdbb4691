-- Cells: each stored minute's heatmap summed over a grid of square cells (core/cells.py), so that a rectangle drawn on
-- the grid ("when did something move here", `roz explore`) reads a few hundred numbers per minute, not its array.
-- Written with the minute, in its transaction; minutes stored before this migration have none and are read from
-- their arrays. The minute's heatmap size and downscale factor are repeated here so that a question reads this table
-- alone (a join with heatmap_minutes doubled its time, bench/explore.py).

CREATE TABLE heatmap_minute_cells (
    camera_id   VARCHAR(50)  NOT NULL,
    "timestamp" TIMESTAMPTZ  NOT NULL,
    downscale_factor REAL    NOT NULL CHECK (downscale_factor > 0),
    height      INT          NOT NULL CHECK (height > 0),
    width       INT          NOT NULL CHECK (width > 0),
    cell_pixels SMALLINT     NOT NULL CHECK (cell_pixels > 0),
    rows        SMALLINT     NOT NULL CHECK (rows > 0),
    cols        SMALLINT     NOT NULL CHECK (cols > 0),
    sums        BYTEA        NOT NULL CHECK (length(sums) = 8 * rows * cols),
    CONSTRAINT heatmap_minute_cells_pkey PRIMARY KEY (camera_id, "timestamp"),
    CONSTRAINT heatmap_minute_cells_minute_fkey FOREIGN KEY (camera_id, "timestamp")
        REFERENCES heatmap_minutes (camera_id, "timestamp") ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

COMMENT ON TABLE heatmap_minute_cells IS
    'Per camera-minute: its heatmap (height x width, as in heatmap_minutes) summed over cells of cell_pixels square';
COMMENT ON COLUMN heatmap_minute_cells.sums IS
    'rows x cols little-endian float64 (C order): the sum of intensity_array over each cell (edge cells partial)';
