"""Maintenance: `roz_schema` (the migrations as an asset upstream of everything that writes), `retention_cleanup_job`
(each camera's own windows for minutes and rollups; the clip inventory's late window), `vacuum_analyze_job`, and the
nightly schedules that run them (UTC): retention first, VACUUM ANALYZE after it.

Retention and Dagster's view: each camera asset's partitions start the day after its retention cutoff
(`camera_partitions`), so minutes the retention deleted leave the partition set when the code location next loads
instead of showing as materialized data that is gone. (Wiping partition materializations would be the other way,
but Dagster's open-source event log storage does not support partitioned wipes.) Each cleanup is also recorded as
an observation on the camera asset: rows deleted, window, cutoff, duration.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    DefaultScheduleStatus,
    Definitions,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    asset,
    job,
    op,
)

from roz_pipeline import settings
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import SCHEMA_KEY, days_key, hours_key, minutes_key
from roz_pipeline.lib.policies import DATABASE_GROUP
from roz_pipeline.lib.resources import HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.storage.maintenance import (
    VACUUMED_TABLES,
    stored_cameras,
    table_stats,
    vacuum_analyze,
    wal_bytes_since,
    wal_position,
)
from roz_pipeline.storage.partitions import ensure_days_ahead
from roz_pipeline.usecases.retention import apply_retention, forget_clips_before


def build_domain(served: ServedCameras) -> Definitions:
    """In the one code location that maintains, however the registry is split: the schema, retention (over every
    camera of the registry) and VACUUM ANALYZE, with their schedules."""
    if not served.maintains:
        return Definitions()
    retention_job, vacuum_job = build_retention_job(served.registry), build_vacuum_job()
    return Definitions(assets=[build_schema_asset()], jobs=[retention_job, vacuum_job],
                       schedules=build_schedules(retention_job, vacuum_job))


def build_schema_asset():
    @asset(key=SCHEMA_KEY, group_name=DATABASE_GROUP, kinds={"postgres"})
    def roz_schema(context: AssetExecutionContext, database: HeatmapDatabase) -> None:
        """The `heatmap_minutes` schema: applies db/migrations in order, as the schema owner (every camera run also
        does this first)."""
        applied = database.migrate()
        context.add_output_metadata({
            "applied_now": MetadataValue.json([m.filename for m in applied]),
            "migrations_dir": MetadataValue.path(database.migrations_dir),
        })

    return roz_schema


@op(name="forget_old_clips")
def forget_old_clips(context: OpExecutionContext, database: HeatmapDatabase) -> Output:
    """The clip inventory keeps the late window (ROZ_LATE_CLIP_DAYS) and a day more: discovery looks no
    further back. Its days past it are dropped whole, as the schema owner."""
    database.migrate()
    cutoff = datetime.now(timezone.utc) - timedelta(days=settings.late_clip_days() + 1)
    with database.connection() as watcher, measured_step(watcher) as cost:
        forgotten = forget_clips_before(database.connection, lambda: database.connection(as_schema_owner=True),
                                        cutoff)
    context.log.info(f"clip inventory: forgot {forgotten} clip(s) that started before {cutoff:%Y-%m-%d %H:%M} UTC "
                     f"in {cost['duration_s']} s, {_pretty(cost['wal_bytes'])} of WAL")
    return Output(forgotten, metadata={"clips_forgotten": forgotten, "cutoff": MetadataValue.timestamp(cutoff), **cost})


def build_retention_job(cameras: dict[str, Camera]):
    """The job deleting each camera's minutes older than its `retention_days`, in committed batches, and its
    hour and day rollups older than its `rollup_retention_days`. Cameras no longer in the registry are reported,
    and deleted only with ROZ_REMOVED_CAMERA_RETENTION_DAYS set."""

    @op(name="delete_expired_rows")
    def delete_expired_rows(context: OpExecutionContext, database: HeatmapDatabase) -> Output:
        """Each camera's minutes past its retention_days and hour and day rollups past its rollup_retention_days."""
        database.migrate()
        with database.connection() as conn:
            removed = {camera_id: rows for camera_id, rows in stored_cameras(conn).items() if camera_id not in cameras}
        removed_days = settings.removed_camera_retention_days()
        targets = list(cameras.values())
        if removed and removed_days:
            days = max(1, int(removed_days))
            targets += [Camera(camera_id, retention_days=days, rollup_retention_days=days) for camera_id in removed]
        elif removed:
            context.log.warning(f"{len(removed)} camera(s) no longer in the registry keep their rows: "
                                f"{', '.join(sorted(removed))} (set ROZ_REMOVED_CAMERA_RETENTION_DAYS to delete them)")
        kept = [] if removed_days else list(removed)
        with database.connection() as watcher, measured_step(watcher) as cost:
            report = _apply_retention(context, targets, kept, removed, database)
        with database.connection(as_schema_owner=True) as conn:
            days_made = ensure_days_ahead(conn, datetime.now(timezone.utc).date())
        return Output(sum(r["rows_deleted"] for r in report.values()),
                      metadata={"per_camera": MetadataValue.json(report),
                                "removed_cameras": MetadataValue.json(removed),
                                "removed_cameras_policy": (f"deleted past {max(1, int(removed_days))} days"
                                                           if removed_days else "kept: set "
                                                           "ROZ_REMOVED_CAMERA_RETENTION_DAYS to delete"),
                                "rows_deleted": sum(r["rows_deleted"] for r in report.values()),
                                "rollup_rows_deleted": sum(r["rollup_rows_deleted"] for r in report.values()),
                                "days_made_ahead": days_made,
                                **cost})

    @job(name="retention_cleanup_job",
         description="Delete each camera's minutes older than its retention_days, rollups older than "
                     "its rollup_retention_days, and clip inventory rows older than the late-clip window")
    def retention_cleanup_job():
        delete_expired_rows()
        forget_old_clips()

    return retention_cleanup_job


def _apply_retention(context: OpExecutionContext, targets: list[Camera], kept: list[str], removed: dict,
                     database: HeatmapDatabase) -> dict:
    """Each camera's retention, logged and observed on its assets; what it deleted, per camera."""
    report = {}
    for done in apply_retention(targets, database.connection, lambda: datetime.now(timezone.utc),
                                lambda: database.connection(as_schema_owner=True), kept):
        context.log.info(f"{done.camera_id}: deleted {done.rows_deleted} minute(s) older than "
                         f"{done.retention_days} days and {done.rollup_rows_deleted} rollup(s) older than "
                         f"{done.rollup_retention_days} days in {done.duration_s} s")
        if done.camera_id in removed:  # no asset of its own any more: the job's metadata says it
            report[done.camera_id] = {"rows_deleted": done.rows_deleted, "retention_days": done.retention_days,
                                      "rollup_rows_deleted": done.rollup_rows_deleted, "removed": True}
            continue
        for observation in _retention_observations(done):
            context.log_event(observation)
        report[done.camera_id] = {"rows_deleted": done.rows_deleted, "retention_days": done.retention_days,
                                  "rollup_rows_deleted": done.rollup_rows_deleted,
                                  "rollup_retention_days": done.rollup_retention_days,
                                  "duration_s": done.duration_s}
    return report


@contextmanager
def measured_step(conn) -> Iterator[dict]:
    """A maintenance step's cost, filled in when the block ends: `duration_s` and `wal_bytes`, the WAL the server
    wrote meanwhile (every session's: at night, mostly the step's own)."""
    cost, position, started = {}, wal_position(conn), time.monotonic()
    yield cost
    cost.update(duration_s=round(time.monotonic() - started, 3), wal_bytes=wal_bytes_since(conn, position))


def _retention_observations(done) -> list[AssetObservation]:
    """What retention deleted, on the camera's minutes asset and on its hour and day rollups."""
    minutes = AssetObservation(asset_key=minutes_key(done.camera_id), metadata={
        "rows_deleted": done.rows_deleted, "retention_days": done.retention_days,
        "cutoff": MetadataValue.timestamp(done.cutoff), "duration_s": done.duration_s})
    return [minutes, *(AssetObservation(asset_key=key, metadata={
        "rollup_rows_deleted": done.rollup_rows_deleted, "rollup_retention_days": done.rollup_retention_days,
        "cutoff": MetadataValue.timestamp(done.rollup_cutoff)}) for key in (hours_key(done.camera_id),
                                                                            days_key(done.camera_id)))]


@op(name="vacuum_analyze_heatmaps")
def vacuum_analyze_heatmaps(context: OpExecutionContext, database: HeatmapDatabase) -> Output:
    """VACUUM (ANALYZE) what changed of the heatmap tables (of the partitioned ones, the days written or deleted
    from) as their owner, with each table's size and dead tuples before and after (heatmap_minutes' also at the top
    level)."""
    database.migrate()
    with database.connection(as_schema_owner=True) as conn:
        before = {table: table_stats(conn, table) for table in VACUUMED_TABLES}
        with measured_step(conn) as cost:
            vacuumed = vacuum_analyze(conn)
        after = {table: table_stats(conn, table) for table in VACUUMED_TABLES}
    per_table = {table: {"bytes": after[table].total_bytes, "size": _pretty(after[table].total_bytes),
                         "live_rows": after[table].live_rows, "dead_rows_before": before[table].dead_rows,
                         "dead_rows_after": after[table].dead_rows} for table in VACUUMED_TABLES}
    context.log.info(f"VACUUM (ANALYZE) of {len(vacuumed)} changed table(s) or partition(s): {cost['duration_s']} s, "
                     f"{_pretty(cost['wal_bytes'])} of WAL; " + "; ".join(
        f"{table} dead tuples {t['dead_rows_before']} -> {t['dead_rows_after']}, {t['size']}"
        for table, t in per_table.items()))
    minutes = per_table["heatmap_minutes"]
    return Output(None, metadata={
        **cost,
        "vacuumed": MetadataValue.json(vacuumed),
        "table_bytes": minutes["bytes"],
        "table_size": MetadataValue.text(minutes["size"]),
        "live_rows": minutes["live_rows"],
        "dead_rows_before": minutes["dead_rows_before"],
        "dead_rows_after": minutes["dead_rows_after"],
        "tables": MetadataValue.json(per_table),
    })


def build_vacuum_job():
    @job(name="vacuum_analyze_job", description="VACUUM (ANALYZE) the heatmap tables after the nightly retention")
    def vacuum_analyze_job():
        vacuum_analyze_heatmaps()

    return vacuum_analyze_job


def _pretty(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def build_schedules(retention_job, vacuum_job) -> list[ScheduleDefinition]:
    """Retention at ROZ_RETENTION_CRON (default 00:05 UTC), VACUUM at ROZ_VACUUM_CRON (default 00:35 UTC)."""
    return [
        ScheduleDefinition(name="nightly_retention_cleanup", job=retention_job, cron_schedule=settings.retention_cron(),
                           execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING),
        ScheduleDefinition(name="nightly_vacuum_analyze", job=vacuum_job, cron_schedule=settings.vacuum_cron(),
                           execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING),
    ]
