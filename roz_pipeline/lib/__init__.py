"""What the Dagster domains (roz_pipeline/defs/) share, as dagster-open-platform keeps it in `lib/`: the cameras a
code location serves with their partitions, every Dagster name (keys), the resources, the executor, the retries,
pools and groups (policies), ranged runs (launch), and the one module importing Dagster's private names."""
