"""Time partitions of the camera assets: one minute (default) or one hour, UTC."""

from datetime import datetime, timezone

from dagster import BackfillPolicy, TimeWindowPartitionsDefinition

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
MINUTES_PER_RUN = 60  # a UI backfill or a sensor batch processes up to this many minutes in one run


def camera_partitions(start: str, grain: str) -> TimeWindowPartitionsDefinition:
    """Partitions from `start` (UTC date); every partition key is `%Y-%m-%d-%H:%M` whatever the grain."""
    cron = {"minute": "* * * * *", "hour": "0 * * * *"}[grain]
    try:
        first_day = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"ROZ_PARTITIONS_START must be a UTC date YYYY-MM-DD, got {start!r}") from None
    return TimeWindowPartitionsDefinition(start=first_day, fmt=PARTITION_FORMAT, cron_schedule=cron, timezone="UTC")


def camera_backfill_policy(grain: str) -> BackfillPolicy:
    """Ranged runs of about an hour of footage: 60 minute partitions, or 1 hour partition."""
    return BackfillPolicy.multi_run(max_partitions_per_run=MINUTES_PER_RUN if grain == "minute" else 1)
