"""Maintenance jobs: `retention_cleanup_job` (each camera's own windows for minutes and rollups) and
`vacuum_analyze_job`.

Retention and Dagster's view: each camera asset's partitions start the day after its retention cutoff
(`camera_partitions`), so minutes the retention deleted leave the partition set when the code location next loads
instead of showing as materialized data that is gone. (Wiping partition materializations would be the other way,
but Dagster's open-source event log storage does not support partitioned wipes.) Each cleanup is also recorded as
an observation on the camera asset: rows deleted, window, cutoff, duration.
"""

import time
from datetime import datetime, timedelta, timezone

from dagster import AssetKey, AssetObservation, MetadataValue, OpExecutionContext, Output, job, op

from roz_pipeline.defs.resources import HeatmapDatabase
from roz_pipeline.defs.rollups import days_key, hours_key
from roz_pipeline.registry import Camera
from roz_pipeline.storage.heatmaps import delete_expired, delete_expired_rollups, table_stats, vacuum_analyze

LOCK_TIMEOUT = "5s"  # a cleanup batch never waits longer than this for a writer's lock (and fails loudly if it does)


def build_retention_job(cameras: dict[str, Camera]):
    """The job deleting each camera's minutes older than its `retention_days`, in committed batches, and its
    hour and day rollups older than its `rollup_retention_days`."""

    @op(name="delete_expired_minutes")
    def delete_expired_minutes(context: OpExecutionContext, database: HeatmapDatabase) -> Output:
        database.migrate()
        report = {}
        for camera in cameras.values():
            started = time.monotonic()
            with database.connection() as conn:
                deleted = delete_expired(conn, camera.camera_id, camera.retention_days, lock_timeout=LOCK_TIMEOUT)
                rollups_deleted = delete_expired_rollups(conn, camera.camera_id, camera.rollup_retention_days)
            now = datetime.now(timezone.utc)
            seconds = round(time.monotonic() - started, 3)
            context.log.info(f"{camera.camera_id}: deleted {deleted} minute(s) older than {camera.retention_days} "
                             f"days and {rollups_deleted} rollup(s) older than {camera.rollup_retention_days} days "
                             f"in {seconds} s")
            context.log_event(AssetObservation(
                asset_key=AssetKey(["heatmap_minutes", camera.camera_id]),
                metadata={"rows_deleted": deleted, "retention_days": camera.retention_days,
                          "cutoff": MetadataValue.timestamp(now - timedelta(days=camera.retention_days)),
                          "duration_s": seconds},
            ))
            for key in (hours_key(camera.camera_id), days_key(camera.camera_id)):
                context.log_event(AssetObservation(asset_key=key, metadata={
                    "rollup_rows_deleted": rollups_deleted, "rollup_retention_days": camera.rollup_retention_days,
                    "cutoff": MetadataValue.timestamp(now - timedelta(days=camera.rollup_retention_days))}))
            report[camera.camera_id] = {"rows_deleted": deleted, "retention_days": camera.retention_days,
                                        "rollup_rows_deleted": rollups_deleted,
                                        "rollup_retention_days": camera.rollup_retention_days,
                                        "duration_s": seconds}
        return Output(sum(r["rows_deleted"] for r in report.values()),
                      metadata={"per_camera": MetadataValue.json(report),
                                "rows_deleted": sum(r["rows_deleted"] for r in report.values()),
                                "rollup_rows_deleted": sum(r["rollup_rows_deleted"] for r in report.values())})

    @job(name="retention_cleanup_job",
         description="Delete each camera's minutes older than its retention_days, rollups older than "
                     "its rollup_retention_days")
    def retention_cleanup_job():
        delete_expired_minutes()

    return retention_cleanup_job


@op(name="vacuum_analyze_heatmaps")
def vacuum_analyze_heatmaps(context: OpExecutionContext, schema_owner: HeatmapDatabase) -> Output:
    """VACUUM (ANALYZE) the heatmap tables as their owner, with heatmap_minutes' size and dead tuples before and
    after."""
    schema_owner.migrate()
    with schema_owner.connection() as conn:
        before = table_stats(conn)
        started = time.monotonic()
        vacuum_analyze(conn)
        seconds = round(time.monotonic() - started, 3)
        after = table_stats(conn)
    context.log.info(f"VACUUM (ANALYZE) heatmap_minutes, heatmap_rollups: {seconds} s, dead tuples {before.dead_rows} -> "
                     f"{after.dead_rows}, {after.total_bytes} bytes")
    return Output(None, metadata={
        "duration_s": seconds,
        "table_bytes": after.total_bytes,
        "table_size": MetadataValue.text(_pretty(after.total_bytes)),
        "live_rows": after.live_rows,
        "dead_rows_before": before.dead_rows,
        "dead_rows_after": after.dead_rows,
    })


@job(name="vacuum_analyze_job", description="VACUUM (ANALYZE) the heatmap tables after the nightly retention")
def vacuum_analyze_job():
    vacuum_analyze_heatmaps()


def _pretty(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
