"""Roz: surveillance video -> per-minute motion heatmaps in PostgreSQL.

`roz_pipeline.core` turns clips into heatmaps, `roz_pipeline.storage` keeps them in PostgreSQL;
neither imports Dagster. The Dagster layer wires them into assets, resources, sensors and schedules.
"""
