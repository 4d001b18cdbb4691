"""The Dagster layer: assets, resources, partitions, sensors and checks wiring the pure core together."""
