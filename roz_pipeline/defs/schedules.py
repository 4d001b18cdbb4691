"""Nightly maintenance schedules (UTC): retention first, VACUUM ANALYZE after it."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from roz_pipeline import settings


def build_schedules(retention_job, vacuum_job) -> list[ScheduleDefinition]:
    """Retention at ROZ_RETENTION_CRON (default 03:00 UTC), VACUUM at ROZ_VACUUM_CRON (default 03:30 UTC)."""
    return [
        ScheduleDefinition(name="nightly_retention_cleanup", job=retention_job,
                           cron_schedule=settings.env("ROZ_RETENTION_CRON", "0 3 * * *"), execution_timezone="UTC",
                           default_status=DefaultScheduleStatus.RUNNING),
        ScheduleDefinition(name="nightly_vacuum_analyze", job=vacuum_job,
                           cron_schedule=settings.env("ROZ_VACUUM_CRON", "30 3 * * *"), execution_timezone="UTC",
                           default_status=DefaultScheduleStatus.RUNNING),
    ]
