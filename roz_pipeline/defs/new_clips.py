"""Clips arriving: the `clip_store` source asset, its `clip_layout` check, and `new_clips_sensor`, which keeps the
clip inventory current, turns unread clips into ranged runs of the camera assets and new clip-store problems into
check evaluations (each problem once).

The `clip_layout` check reads the problems discovery recorded (a problem ends when its key is gone or its camera is
registered). The bookkeeping lives in `usecases.new_clips` and `clips.discovery`.
"""

import hashlib
import json
from datetime import datetime

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSpec,
    Definitions,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    sensor,
)

from roz_pipeline import settings
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import CLIP_LAYOUT_CHECK, CLIP_STORE_KEY, minutes_key
from roz_pipeline.lib.launch import camera_ranges
from roz_pipeline.lib.policies import SOURCES_GROUP
from roz_pipeline.lib.resources import ClipStoreResource, HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.storage.clip_problems import open_problems
from roz_pipeline.usecases.live import SETTLE
from roz_pipeline.usecases.new_clips import NewClipsCursor, PartitionSlot, scan_new_clips


def build_domain(served: ServedCameras) -> Definitions:
    """The sensor for this location's cameras; the clip store and its check in the one location that maintains."""
    clip_store = AssetSpec(
        CLIP_STORE_KEY,
        group_name=SOURCES_GROUP,
        description="Clips in a local folder or an S3 bucket, laid out as ROZ_CLIP_LAYOUT says (roz, frigate or a "
                    "template)",
    )
    maintained = dict(assets=[clip_store], asset_checks=[build_clip_layout_check(served.registry)])
    return Definitions(sensors=[build_new_clips_sensor(served)], **(maintained if served.maintains else {}))


def build_clip_layout_check(cameras: dict[str, Camera]):
    """A check listing the clips and folders the pipeline cannot use (unregistered cameras, keys off the layout),
    as discovery recorded them."""

    @asset_check(asset=CLIP_STORE_KEY, name=CLIP_LAYOUT_CHECK, description="Every clip discovered in the store "
                 "follows the layout and belongs to a registered camera", required_resource_keys={"clips", "database"})
    def clip_layout(context) -> AssetCheckResult:
        catalog = context.resources.clips.catalog(cameras.values())
        with context.resources.database.connection() as conn:
            problems, count = open_problems(conn, catalog.store.describe(), list(catalog.ids_by_source), 200)
        return AssetCheckResult(
            passed=not count,
            severity=AssetCheckSeverity.WARN,
            metadata={"problems": MetadataValue.json(problems), "problem_count": count},
        )

    return clip_layout


def build_new_clips_sensor(served: ServedCameras):
    """The sensor for the served cameras, which recognises the clips of every camera of the registry."""
    cameras, registry, partitions, now = served.by_id, served.registry, served.partitions, served.clock
    max_per_run = served.partitions_per_run

    def slot(camera_id: str, moment: datetime) -> PartitionSlot | None:
        camera_partitions = partitions[camera_id]
        if moment < camera_partitions.start:
            return None
        key = camera_partitions.get_partition_key_for_timestamp(moment.timestamp())
        window = camera_partitions.time_window_for_partition_key(key)
        return PartitionSlot(key, window.start, window.end)

    @sensor(
        name="new_clips_sensor",
        minimum_interval_seconds=settings.sensor_interval_seconds(),
        asset_selection=[minutes_key(c) for c in cameras],
        description="Keeps the clip inventory current (folder marks, S3 listings or S3 event notifications) and "
                    "starts a run for every partition of the last ROZ_LATE_CLIP_DAYS that has ended and holds clips "
                    "no run has read (late and out-of-order clips; the hour in progress is follow_cameras_sensor's)",
    )
    def new_clips_sensor(context: SensorEvaluationContext, clips: ClipStoreResource,
                         database: HeatmapDatabase) -> SensorResult:
        cursor = NewClipsCursor.from_json(json.loads(context.cursor) if context.cursor else None)
        discovery = clips.discovery(registry.values())
        try:
            database.migrate_once()  # the inventory's tables: a first tick may come before any run
            with database.connection() as conn:
                scan = scan_new_clips(discovery, conn, list(cameras), cursor, slot, served.grain, now(), SETTLE,
                                      settings.max_runs_per_tick() * max_per_run)
        except ClipStoreError as exc:
            context.log.error(str(exc))
            return SensorResult(skip_reason=str(exc))
        counts = discovery.counts
        context.log.debug(f"discovery: {counts.folders_checked} folder(s) checked, {counts.listings} listed, "
                          f"{counts.keys_parsed} key(s) parsed, {counts.messages} message(s), {counts.changed} "
                          f"clip(s) new or changed, {counts.gone} gone")
        if counts.reconciled:
            context.log.warning(f"reconciliation found {counts.reconciled} clip(s) new or changed that the "
                                "folder marks, recent listing or S3 events had not reported")
        for error in scan.errors:
            context.log.error(error)
        requests = [request for camera_id, fingerprints in scan.read.items()
                    for request in _requests_of(camera_id, fingerprints, partitions[camera_id], max_per_run)]
        for problem in scan.new_problems:
            context.log.warning(f"clip store: {problem}")
        events = [_layout_check(scan.new_problems)] if scan.new_problems else []
        cursor_json = json.dumps(scan.cursor.to_json())
        if not requests and not events and scan.errors:
            return SensorResult(skip_reason="; ".join(scan.errors), cursor=cursor_json)
        return SensorResult(run_requests=requests, cursor=cursor_json, asset_events=events)

    return new_clips_sensor


def _requests_of(camera_id: str, fingerprints: dict[str, str], partitions, max_per_run: int) -> list[RunRequest]:
    """Ranged runs over the camera's partitions with unread clips; each run key names the inputs it will read."""
    requests = []
    for camera_range in camera_ranges(camera_id, minutes_key(camera_id), list(fingerprints), partitions, max_per_run):
        inputs = fingerprint_of(fingerprints[key] for key in sorted(fingerprints)
                                if camera_range.first <= key <= camera_range.last)
        requests.append(camera_range.run_request(
            run_key=f"{camera_id}:{camera_range.first}:{camera_range.last}:{inputs[:16]}"))
    return requests


def _layout_check(new_problems: list[str]) -> AssetCheckEvaluation:
    """The clip_layout check of the clip_store asset, failed (a warning) for keys and folders the pipeline cannot
    use."""
    return AssetCheckEvaluation(
        asset_key=CLIP_STORE_KEY,
        check_name=CLIP_LAYOUT_CHECK,
        passed=False,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(new_problems)} new clip(s) or folder(s) the pipeline cannot use",
        metadata={"new_problems": MetadataValue.json(new_problems[:200]), "new_problem_count": len(new_problems)},
    )


def fingerprint_of(parts) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
