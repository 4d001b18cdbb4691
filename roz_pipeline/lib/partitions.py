"""Time partitions, UTC: the camera assets' hours (default) or minutes, the rollups' hours and days."""

from datetime import datetime, timedelta, timezone

from dagster import BackfillPolicy, TimeWindowPartitionsDefinition

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
MINUTES_PER_RUN = 60  # a UI backfill or a sensor batch processes up to this many minutes in one run


def camera_partitions(start: str, grain: str, retention_days: int | None = None,
                      now: datetime | None = None) -> TimeWindowPartitionsDefinition:
    """Partitions from `start` (UTC date); every partition key is `%Y-%m-%d-%H:%M` whatever the grain.

    With `retention_days`, partitions begin no earlier than the day after the retention cutoff: rows the
    nightly retention has deleted leave the partition set instead of showing as materialized data that is gone.
    The partition in progress (this hour, this day) is one of them: a run over it, such as the run following the
    hour in progress, records its materialization under its key (Dagster records none for a key it does not list).
    """
    cron = {"minute": "* * * * *", "hour": "0 * * * *", "day": "0 0 * * *"}[grain]
    try:
        first_day = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"ROZ_PARTITIONS_START must be a UTC date YYYY-MM-DD, got {start!r}") from None
    if retention_days is not None:
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=retention_days)
        first_day = max(first_day, cutoff.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))
    return TimeWindowPartitionsDefinition(start=first_day, fmt=PARTITION_FORMAT, cron_schedule=cron, timezone="UTC",
                                          end_offset=1)


def partitions_per_run(grain: str) -> int:
    """A run of a camera's asset covers about an hour of footage: 60 minute partitions, or 1 hour partition."""
    return MINUTES_PER_RUN if grain == "minute" else 1


def camera_backfill_policy(grain: str) -> BackfillPolicy:
    return BackfillPolicy.multi_run(max_partitions_per_run=partitions_per_run(grain))
