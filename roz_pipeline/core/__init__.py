"""Video -> motion heatmap, the intensity array codec, and rendering. No Dagster, no database."""
