"""How Roz's assets and ops run, shared by every domain: retries, the database writers' pool, asset groups."""

from dagster import Backoff, RetryPolicy

# Database hiccups and S3 errors that outlive boto's own retries re-run the step; bad clips do not (they would fail
# the same way again: Failure(allow_retries=False), defs.minutes).
TRANSIENT_RETRY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL)

WRITER_POOL = "database-writers"  # rollups and region series only read and write PostgreSQL: capped together

CAMERAS_GROUP, ROLLUP_GROUP, REGIONS_GROUP = "cameras", "rollups", "regions"
SOURCES_GROUP, DATABASE_GROUP = "sources", "database"


def camera_group(site: str | None, default: str) -> str:
    """The asset group of a camera's asset: its site's, where every asset of the site's cameras is (a thousand
    cameras show as groups of tens in the UI), else `default` (CAMERAS_GROUP, ROLLUP_GROUP or REGIONS_GROUP)."""
    return site or default
