"""Rollup assets per camera: `heatmap_hours/<camera>` (hour partitions, the sum of the camera's minutes) and
`heatmap_days/<camera>` (day partitions, the sum of its hours), both in `heatmap_rollups`.

They keep up by declarative automation: when minutes are (re)materialized, the hours they fall in are requested,
then the days of those hours; backfills and re-processed old minutes included. `rollup_automation_sensor` runs
the evaluation (on by default).
"""

import base64
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    BackfillPolicy,
    DefaultSensorStatus,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from roz_pipeline.core.render import render_hour_bars, render_week
from roz_pipeline.core.timesteps import STEPS, steps
from roz_pipeline.defs.keys import (
    CAMERA_TAG, DAYS_PREFIX, HOURS_PREFIX, REGIONS_PREFIX, ROLLUP_GROUP, camera_group, days_key, hours_key, minutes_key)
from roz_pipeline.defs.minutes import TRANSIENT_RETRY
from roz_pipeline.defs.partitions import camera_partitions
from roz_pipeline.defs.resources import ClipSource, HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.insight import PeriodHeatmap, activity_timeline, week_pattern
from roz_pipeline.usecases.pictures import camera_still, render_summed
from roz_pipeline.usecases.rollups import RollupOutcome, roll_up_day, roll_up_hour

WRITER_POOL = "database-writers"  # rollups only read and write PostgreSQL: cap them together (deploy/README.md)
PREVIEW_WIDTH = 240  # each hour's PNG in the event log: 30-40 KB (about 0.3 GB per camera-year of event log)

# Like AutomationCondition.eager(), without its "latest time window only" and "no missing dependency" parts:
# re-processed old minutes must update their hour, and an hour with a gap in its footage is still rolled up. The
# hour or day in progress waits until it has ended: rolled up once, not after every update of its sources.
ROLLUP_CONDITION = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.in_latest_time_window()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("sources updated, period ended")


def rollup_assets(camera: Camera, partitions_start: str) -> list:
    """The camera's hour and day rollup assets, partitioned from `partitions_start` within its rollup retention."""
    camera_id = camera.camera_id
    hour_partitions = camera_partitions(partitions_start, "hour", camera.rollup_retention_days)
    day_partitions = camera_partitions(partitions_start, "day", camera.rollup_retention_days)
    common = dict(group_name=camera_group(camera.site, ROLLUP_GROUP), retry_policy=TRANSIENT_RETRY,
                  automation_condition=ROLLUP_CONDITION,
                  kinds={"postgres"}, tags={CAMERA_TAG: camera_id}, pool=WRITER_POOL)

    @asset(
        key=hours_key(camera_id),
        partitions_def=hour_partitions,
        deps=[_time_dep(minutes_key(camera_id))],
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=24),
        description=f"Hourly heatmaps of camera {camera_id}: the sum of its minutes, in heatmap_rollups",
        **common,
    )
    def _hours(context: AssetExecutionContext, database: HeatmapDatabase, clips: ClipSource) -> None:
        outcomes = _roll_up_window(context, database, camera_id, roll_up_hour, "hour", camera.retention_days)
        _report(context, camera, outcomes, clips, "minute", camera.retention_days)

    @asset(
        key=days_key(camera_id),
        partitions_def=day_partitions,
        deps=[_time_dep(hours_key(camera_id))],
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=31),
        description=f"Daily heatmaps of camera {camera_id}: the sum of its hours, in heatmap_rollups",
        **common,
    )
    def _days(context: AssetExecutionContext, database: HeatmapDatabase, clips: ClipSource) -> None:
        outcomes = _roll_up_window(context, database, camera_id, roll_up_day, "day", camera.rollup_retention_days)
        _report(context, camera, outcomes, None, "hour rollup", camera.rollup_retention_days)
        with database.connection() as conn:
            _day_pictures(context, conn, camera, outcomes, clips)

    return [_hours, _days]


def build_rollup_automation_sensor() -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "rollup_automation_sensor",
        target=AssetSelection.key_prefixes([HOURS_PREFIX], [DAYS_PREFIX], [REGIONS_PREFIX]),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Requests the hours and days whose minutes or hours were (re)materialized, and the region "
                    "series of cameras whose regions changed",
    )


def _day_pictures(context: AssetExecutionContext, conn, camera: Camera, outcomes: list[RollupOutcome],
                  clips: ClipSource) -> None:
    """Each day partition at a glance in the UI: the day's heatmap over a still, its activity by hour, and the
    camera's weekly pattern over the four weeks up to that day."""
    still = None
    for key, outcome in zip(context.partition_keys, outcomes, strict=True):
        rollup = outcome.rollup
        if rollup is None:
            continue
        day_end = rollup.period_start + timedelta(days=1)
        if still is None:
            still, _ = camera_still(clips.catalog([camera]), camera.camera_id, rollup.period_start)
        period = PeriodHeatmap(rollup.camera_id, rollup.period_start, day_end, rollup.heatmap, rollup.minutes_covered,
                               outcome.left_out, rollup.period_start)
        by_hour = {h.period_start.hour: h.total_intensity / h.minutes_covered
                   for h in activity_timeline(conn, camera.camera_id, rollup.period_start, day_end, "hour")}
        week = week_pattern(conn, camera.camera_id, day_end, weeks=4)
        context.add_asset_metadata({
            "day": _picture(f"day {key}", render_summed(period, still, width=PREVIEW_WIDTH * 2)),
            "activity_by_hour": _picture("activity per minute by UTC hour",
                                         render_hour_bars([by_hour.get(h, float("nan")) for h in range(24)])),
            "week_pattern": _picture("activity per minute by weekday and UTC hour, last 4 weeks",
                                     render_week(week.per_minute)),
        }, partition_key=key)


def _picture(title: str, png: bytes) -> MetadataValue:
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _time_dep(key: AssetKey) -> AssetDep:
    # Rollup partitions can start before the source's (its retention is shorter): such sources do not exist.
    return AssetDep(key, partition_mapping=TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True))


def _roll_up_window(context: AssetExecutionContext, database: HeatmapDatabase, camera_id: str, roll_up, grain: str,
                    sources_retention_days: int) -> list[RollupOutcome]:
    """Every hour or day of the run's partition window, rolled up from sources kept `sources_retention_days`."""
    database.migrate()  # whatever launched the run, the schema is current before the first write
    kept_since = datetime.now(timezone.utc) - timedelta(days=sources_retention_days)
    window = context.partition_time_window
    with database.connection() as conn:
        return [roll_up(conn, camera_id, start, kept_since) for start in steps(window.start, window.end, STEPS[grain])]


def _report(context: AssetExecutionContext, camera: Camera, outcomes: list[RollupOutcome], clips: ClipSource | None,
            source: str, retention_days: int) -> None:
    """Per-partition metadata; for hours, a PNG of the hour over a still of the camera with the colour legend."""
    keys = context.partition_keys
    written = [outcome.rollup for outcome in outcomes if outcome.rollup is not None]
    still = None
    if clips is not None and written:  # one still per run: the camera does not move between its hours
        still, _ = camera_still(clips.catalog([camera]), camera.camera_id, written[0].period_start)
    for key, outcome in zip(keys, outcomes, strict=True):
        metadata = {"status": outcome.status}
        if outcome.status == "kept":
            context.log.info(f"{key}: kept the stored rollup, its {source}s may be past their {retention_days}-day "
                             "retention")
        rollup = outcome.rollup
        if rollup is not None:
            metadata.update(minutes_covered=rollup.minutes_covered, frame_count=rollup.frame_count,
                            total_intensity=rollup.total_intensity, left_out=outcome.left_out)
            if outcome.left_out:
                context.log.warning(f"{key}: left out {outcome.left_out} {source}(s) stored at another heatmap size")
        if rollup is not None and clips is not None:
            period = PeriodHeatmap(rollup.camera_id, rollup.period_start, rollup.period_start + timedelta(hours=1),
                                   rollup.heatmap, rollup.minutes_covered, outcome.left_out, rollup.period_start)
            metadata["preview"] = _picture(f"hour {key}", render_summed(period, still, width=PREVIEW_WIDTH))
        context.add_asset_metadata(metadata, partition_key=key)
