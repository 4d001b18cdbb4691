"""Camera health: the `fresh` and `recent_gaps` checks of each camera asset, and alerts on failed runs (the alerts
of stale cameras: defs.stale).

Alerts always go to the log, and as `{"text": ...}` JSON to ROZ_ALERT_WEBHOOK_URL when set. Undelivered alerts
wait in their sensor's cursor and are retried on its next tick, in order: a webhook that is down delays an alert,
never loses it.
"""

import json
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    sensor,
)

from roz_pipeline import settings
from roz_pipeline.defs.stale import PASSING_STATES
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import (
    CAMERA_TAG,
    FRESHNESS_CHECK,
    GAPS_CHECK,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    camera_of_step,
    minutes_key,
)
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import first_minute_after, newest_minutes, quiet_history
from roz_pipeline.usecases.coverage import Coverage, coverage
from roz_pipeline.usecases.monitoring import QUIET_HISTORY, QuietHistory, evaluate, post_alert


def build_domain(served: ServedCameras) -> Definitions:
    return Definitions(
        asset_checks=[check for camera in served for check in build_camera_checks(camera, served.clock)],
        sensors=[build_run_failure_alert_sensor()])


def build_camera_checks(camera: Camera, now) -> list:
    """`fresh` (newest minute within stale_after_minutes) and `recent_gaps` (no missing minute in recent hours)."""
    key = minutes_key(camera.camera_id)

    @asset_check(asset=key, name=FRESHNESS_CHECK, required_resource_keys={"database"},
                 description=f"The newest stored minute is at most {camera.stale_after_minutes} minutes old")
    def fresh(context) -> AssetCheckResult:
        moment = now()
        with context.resources.database.connection() as conn:
            quiet = QuietHistory(*quiet_history(conn, camera.camera_id, moment - QUIET_HISTORY, moment)) \
                if camera.motion_only else None
            freshness = evaluate(camera.camera_id, camera.stale_after_minutes,
                                 newest_minutes(conn, [camera.camera_id]).get(camera.camera_id), moment,
                                 motion_only=camera.motion_only, quiet=quiet)
        metadata = {"state": freshness.state}
        if freshness.age is not None:
            metadata["age_minutes"] = round(freshness.age.total_seconds() / 60, 1)
        return AssetCheckResult(passed=freshness.state in PASSING_STATES, metadata=metadata)

    @asset_check(asset=key, name=GAPS_CHECK, required_resource_keys={"database"},
                 description="Every minute of the last ROZ_GAP_CHECK_HOURS hours (default 6) has full footage "
                             "(a motion-only camera: none is missing)")
    def recent_gaps(context) -> AssetCheckResult:
        end = now().replace(second=0, microsecond=0)
        start = end - timedelta(hours=settings.gap_check_hours())
        with context.resources.database.connection() as conn:
            first = first_minute_after(conn, camera.camera_id, start - timedelta(minutes=1))
            found = coverage(conn, camera, first, end) if first else Coverage([], [])
        partial = {f"{m.minute:%Y-%m-%d %H:%M}": m.covered_seconds for m in found.partial}
        ranges = [f"{a:%Y-%m-%d %H:%M}" + ("" if a == b else f" to {b:%H:%M}") for a, b in found.gaps]
        return AssetCheckResult(
            passed=found.complete,
            severity=AssetCheckSeverity.WARN,
            metadata={"missing_minutes": len(found.missing), "gaps": MetadataValue.json(ranges[:200]),
                      "partly_covered_minutes": len(partial), "quiet_minutes": len(found.quiet),
                      "covered_seconds": MetadataValue.json(dict(list(partial.items())[:200])),
                      "window_start": MetadataValue.timestamp(start), "window_end": MetadataValue.timestamp(end)},
        )

    return [fresh, recent_gaps]


FAILURE_LOOKBACK = timedelta(minutes=10)  # runs whose failure was recorded out of order still get their alert


def build_run_failure_alert_sensor(webhook_url=settings.alert_webhook_url):
    """Alerts when a run fails, naming the camera and minutes it covered and the first error.

    Watches every failed run of the Dagster instance (Roz's own). A plain sensor rather than Dagster's
    `run_failure_sensor`: that one advances its cursor past a run even when the alert could not be delivered.
    Here alerts wait in this sensor's own cursor, like the stale-camera alerts.
    """

    @sensor(name="run_failure_alert_sensor", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
            description="Alerts on every failed run (camera, minutes, first error); undelivered alerts are retried")
    def run_failure_alert_sensor(context: SensorEvaluationContext):
        now = datetime.now(timezone.utc)
        state = json.loads(context.cursor) if context.cursor else {"after": now.isoformat(), "seen": {}, "outbox": []}
        after = datetime.fromisoformat(state["after"])
        records = context.instance.get_run_records(
            filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE], updated_after=after - FAILURE_LOOKBACK),
            order_by="update_timestamp", ascending=True)
        for record in records:
            run = record.dagster_run
            if run.run_id in state["seen"]:
                continue
            text = failure_text(run, context.instance)
            context.log.warning(text)
            state["outbox"].append(text)
            state["seen"][run.run_id] = record.update_timestamp.isoformat()
            after = max(after, record.update_timestamp)
        state["after"] = after.isoformat()
        state["seen"] = {run_id: at for run_id, at in state["seen"].items()
                         if datetime.fromisoformat(at) > after - FAILURE_LOOKBACK}
        url = webhook_url()
        while state["outbox"] and post_alert(url, state["outbox"][0]):
            state["outbox"].pop(0)
        return SensorResult(cursor=json.dumps(state))

    return run_failure_alert_sensor


def failure_text(run: DagsterRun, instance) -> str:
    """One alert line: which run failed, for which camera and minutes, and why."""
    tags = run.tags
    what = f"Roz run {run.run_id[:8]} of {run.job_name} failed"
    events = instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE})
    step_failures = [e.dagster_event for e in events if e.dagster_event.event_type == DagsterEventType.STEP_FAILURE]
    camera_steps = {camera_of_step(e.step_key) for e in step_failures} - {None}
    cameras = [tags[CAMERA_TAG]] if CAMERA_TAG in tags else sorted(camera_steps)
    if cameras:
        what += f" for camera {', '.join(cameras)}"
    if RANGE_START_TAG in tags:
        what += f", minutes {tags[RANGE_START_TAG]} to {tags[RANGE_END_TAG]}"
    elif PARTITION_TAG in tags:
        what += f", minute {tags[PARTITION_TAG]}"
    first_error = step_failures[0].event_specific_data.error if step_failures else None
    reason = first_error.message if first_error else next(
        (e.dagster_event.message for e in events if e.dagster_event.event_type == DagsterEventType.RUN_FAILURE),
        "no error recorded")
    return f"{what}: {(reason or '').strip()[:1500]}"
