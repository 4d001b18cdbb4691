"""`roz_schema`: the migrations as an asset upstream of everything that writes."""

from dagster import AssetExecutionContext, MetadataValue, asset

from roz_pipeline.defs.keys import SCHEMA_KEY
from roz_pipeline.defs.policies import DATABASE_GROUP
from roz_pipeline.defs.resources import HeatmapDatabase


@asset(key=SCHEMA_KEY, group_name=DATABASE_GROUP, kinds={"postgres"})
def roz_schema(context: AssetExecutionContext, database: HeatmapDatabase) -> None:
    """The `heatmap_minutes` schema: applies db/migrations in order, as the schema owner (every camera run also
    does this first)."""
    applied = database.migrate()
    context.add_output_metadata({
        "applied_now": MetadataValue.json([m.filename for m in applied]),
        "migrations_dir": MetadataValue.path(database.migrations_dir),
    })
