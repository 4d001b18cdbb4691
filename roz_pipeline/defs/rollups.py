"""Rollup assets per camera: `heatmap_hours/<camera>` (hour partitions, the sum of the camera's minutes) and
`heatmap_days/<camera>` (day partitions, the sum of its hours), both in `heatmap_rollups`.

`rollup_automation_sensor` keeps them up: it reads the materializations recorded since its last tick (one query,
whatever the number of cameras) and requests each hour whose minutes changed once the hour has ended and no run is
still writing them, then each day of the hours rolled up the same way; backfills and re-processed old minutes
included (usecases.pending_rollups). Declarative automation did the same by evaluating every rollup asset every
tick: 11.9 s a tick at 1,000 cameras (docs/SCALING.md). It still runs the region series, which are few.
"""

import base64
import json
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    EventRecordsFilter,
    MetadataValue,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    TimeWindowPartitionMapping,
    asset,
    sensor,
)

from roz_pipeline.core.render import render_hour_bars, render_week
from roz_pipeline.core.timesteps import STEPS, steps
from roz_pipeline.defs.live import FollowConfig
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import (
    CAMERA_TAG,
    FOLLOW_JOB,
    HOURS_PREFIX,
    MINUTES_PREFIX,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    days_key,
    hours_key,
    minutes_key,
)
from roz_pipeline.lib.launch import camera_ranges
from roz_pipeline.lib.partitions import PARTITION_FORMAT
from roz_pipeline.lib.policies import ROLLUP_GROUP, TRANSIENT_RETRY, WRITER_POOL, camera_group
from roz_pipeline.lib.resources import ClipStoreResource, HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.insight import PeriodHeatmap, activity_timeline, week_pattern
from roz_pipeline.usecases.pending_rollups import PendingRollups, periods_of
from roz_pipeline.usecases.pictures import camera_still, render_summed
from roz_pipeline.usecases.rollups import RollupOutcome, roll_up_day, roll_up_hour

PREVIEW_WIDTH = 240  # each hour's PNG in the event log: 30-40 KB (about 0.3 GB per camera-year of event log)
HOURS_PER_RUN, DAYS_PER_RUN = 24, 31
MATERIALIZATIONS_PER_TICK = 20_000  # more wait for the next tick (a backfill of many cameras)
RUNNING_STATUSES = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING,
                    DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
ROLLED_UP_BY = {MINUTES_PREFIX: "hour", HOURS_PREFIX: "day"}  # a source asset's prefix and the rollup it feeds


def build_domain(served: ServedCameras) -> Definitions:
    return Definitions(assets=[rollup for camera in served for rollup in rollup_assets(camera, served)],
                       sensors=[build_rollup_sensor(served)])


def rollup_assets(camera: Camera, served: ServedCameras) -> list:
    """The camera's hour and day rollup assets."""
    camera_id = camera.camera_id
    hour_partitions = served.rollup_partitions[(camera_id, "hour")]
    day_partitions = served.rollup_partitions[(camera_id, "day")]
    common = dict(group_name=camera_group(camera.site, ROLLUP_GROUP), retry_policy=TRANSIENT_RETRY,
                  kinds={"postgres"}, tags={CAMERA_TAG: camera_id}, pool=WRITER_POOL)

    @asset(
        key=hours_key(camera_id),
        partitions_def=hour_partitions,
        deps=[_time_dep(minutes_key(camera_id))],
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=HOURS_PER_RUN),
        description=f"Hours: each UTC hour of {camera_id}'s minutes summed into one heatmap (heatmap_rollups)",
        **common,
    )
    def _hours(context: AssetExecutionContext, database: HeatmapDatabase, clips: ClipStoreResource) -> None:
        outcomes = _roll_up_window(context, database, camera_id, roll_up_hour, "hour", camera.retention_days)
        _report(context, camera, outcomes, clips, "minute", camera.retention_days)

    @asset(
        key=days_key(camera_id),
        partitions_def=day_partitions,
        deps=[_time_dep(hours_key(camera_id))],
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN),
        description=f"Days: each UTC day of {camera_id}'s hours summed into one heatmap (heatmap_rollups)",
        **common,
    )
    def _days(context: AssetExecutionContext, database: HeatmapDatabase, clips: ClipStoreResource) -> None:
        outcomes = _roll_up_window(context, database, camera_id, roll_up_day, "day", camera.rollup_retention_days)
        _report(context, camera, outcomes, None, "hour rollup", camera.rollup_retention_days)
        with database.connection() as conn:
            _day_pictures(context, conn, camera, outcomes, clips)

    return [_hours, _days]


def build_rollup_sensor(served: ServedCameras):
    """`rollup_automation_sensor` for the served cameras."""
    cameras, partitions, now = served.by_id, served.rollup_partitions, served.clock
    rollups = {"hour": (hours_key, HOURS_PER_RUN), "day": (days_key, DAYS_PER_RUN)}
    source_step = {MINUTES_PREFIX: STEPS[served.grain], HOURS_PREFIX: STEPS["hour"]}

    @sensor(
        name="rollup_automation_sensor",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        asset_selection=[key(camera_id) for camera_id in cameras for key in (hours_key, days_key)],
        description="Requests each hour whose minutes were stored or re-processed once the hour has ended and no "
                    "run still writes them, and each day of the hours rolled up the same way",
    )
    def rollup_automation_sensor(context: SensorEvaluationContext) -> SensorResult:
        state = json.loads(context.cursor) if context.cursor else {}
        instance = context.instance
        after = state.get("after")
        if after is None:  # the first tick: what was stored before is not news
            newest = instance.event_log_storage.get_event_records(
                EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION), limit=1, ascending=False)
            return SensorResult(cursor=json.dumps({"after": newest[0].storage_id if newest else 0}))
        pending = PendingRollups.from_json(state.get("pending"))
        records = instance.event_log_storage.get_event_records(
            EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION, after_cursor=after),
            limit=MATERIALIZATIONS_PER_TICK, ascending=True)
        for record in records:
            source = _camera_source(record.asset_key, cameras)
            if source is not None and record.partition_key:
                prefix, camera_id = source
                start = _start_of(record.partition_key)
                pending.sources_changed(ROLLED_UP_BY[prefix], camera_id, start, start + source_step[prefix])
        after = records[-1].storage_id if records else after
        requests = []
        moment = now()
        if any(pending.has_ended(rollup, moment) for rollup in rollups):
            writing = _sources_being_written(instance, cameras, source_step)
            for rollup, (key, per_run) in rollups.items():
                for camera_id, periods in pending.take_ready(rollup, moment, writing[rollup]).items():
                    camera_partitions = partitions[(camera_id, rollup)]
                    keys = [p.strftime(PARTITION_FORMAT) for p in periods if p >= camera_partitions.start]
                    requests += [r.run_request(run_key=f"{rollup}:{camera_id}:{r.first}:{r.last}:{after}")
                                 for r in camera_ranges(camera_id, key(camera_id), keys, camera_partitions, per_run)]
        return SensorResult(run_requests=requests,
                            cursor=json.dumps({"after": after, "pending": pending.to_json()}))

    return rollup_automation_sensor


def _camera_source(key: AssetKey | None, cameras: dict[str, Camera]) -> tuple[str, str] | None:
    """(prefix, camera) when `key` is the minutes or hour rollups asset of one of `cameras`, else None."""
    if key is None or len(key.path) != 2:
        return None
    prefix, camera_id = key.path
    return (prefix, camera_id) if prefix in ROLLED_UP_BY and camera_id in cameras else None


def _start_of(partition_key: str) -> datetime:
    return datetime.strptime(partition_key, PARTITION_FORMAT).replace(tzinfo=timezone.utc)


def _sources_being_written(instance, cameras: dict[str, Camera], source_step: dict) -> dict[str, set]:
    """Per rollup grain, the (camera, period) pairs whose sources a queued or running run is writing: one query."""
    writing = {"hour": set(), "day": set()}
    for record in instance.get_run_records(RunsFilter(statuses=RUNNING_STATUSES)):
        for prefix, camera_id, first, last in _partitions_written(record.dagster_run, cameras):
            rollup = ROLLED_UP_BY[prefix]
            for period in periods_of(rollup, _start_of(first), _start_of(last) + source_step[prefix]):
                writing[rollup].add((camera_id, period))
    return writing


def _partitions_written(run: DagsterRun, cameras: dict[str, Camera]):
    """(prefix, camera, first key, last key) for each source asset the run writes partitions of."""
    if run.job_name == FOLLOW_JOB:
        followed = FollowConfig.of_run(run)
        for camera_id in followed.cameras:
            yield MINUTES_PREFIX, camera_id, followed.partition_key, followed.partition_key
        return
    first = run.tags.get(RANGE_START_TAG) or run.tags.get(PARTITION_TAG)
    last = run.tags.get(RANGE_END_TAG) or first
    for key in (run.asset_selection or ()) if first else ():
        source = _camera_source(key, cameras)
        if source is not None:
            yield *source, first, last


def _day_pictures(context: AssetExecutionContext, conn, camera: Camera, outcomes: list[RollupOutcome],
                  clips: ClipStoreResource) -> None:
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


def _report(context: AssetExecutionContext, camera: Camera, outcomes: list[RollupOutcome],
            clips: ClipStoreResource | None, source: str, retention_days: int) -> None:
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
