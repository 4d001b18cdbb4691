"""Clips arriving: the `clip_store` source asset, its `clip_layout` check, and `new_clips_sensor`, which turns new
clips into ranged runs of the camera assets and clip-store problems into check evaluations (each problem once).

The sensor only reports problems; run the `clip_layout` check from the UI to re-verify the whole store after fixing
them. The bookkeeping lives in `usecases.new_clips`.
"""

import json
from datetime import datetime, timezone

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSpec,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    sensor,
)

from roz_pipeline.clips.stores import ClipStoreError, top_level_problems
from roz_pipeline.defs.keys import CLIP_LAYOUT_CHECK, CLIP_STORE_KEY, minutes_key
from roz_pipeline.defs.launch import camera_ranges
from roz_pipeline.defs.resources import ClipSource
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.new_clips import NewClipsCursor, PartitionSlot, scan_new_clips

clip_store = AssetSpec(
    CLIP_STORE_KEY,
    group_name="sources",
    description="Clips as `<camera_id>/<YYYY-MM-DD>/<HH-MM>.<ext>` in a local folder or an S3 bucket",
)


def build_clip_layout_check(cameras: dict):
    """A check listing clips and folders the pipeline cannot use: unregistered cameras, malformed keys."""

    @asset_check(asset=CLIP_STORE_KEY, name=CLIP_LAYOUT_CHECK, description="Every clip follows the layout and "
                 "belongs to a registered camera", required_resource_keys={"clips"})
    def clip_layout(context) -> AssetCheckResult:
        store = context.resources.clips.store()
        problems = top_level_problems(store, cameras)
        for camera_id in cameras:
            problems += [p.message for p in store.clips_after(camera_id, None).problems]
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            metadata={"problems": MetadataValue.json(problems[:200]), "problem_count": len(problems)},
        )

    return clip_layout


def build_new_clips_sensor(cameras: dict[str, Camera], partitions: dict, max_per_run: int, clock=None):
    """The sensor for these cameras (`partitions`: each camera's partitions). `clock` is for tests."""
    now = clock or (lambda: datetime.now(timezone.utc))

    def slot_of(camera_id: str, minute: datetime) -> PartitionSlot | None:
        camera_partitions = partitions[camera_id]
        if minute < camera_partitions.start:
            return None
        key = camera_partitions.get_partition_key_for_timestamp(minute.timestamp())
        window = camera_partitions.time_window_for_partition_key(key)
        return PartitionSlot(key, window.start, window.end)

    @sensor(
        name="new_clips_sensor",
        minimum_interval_seconds=30,
        asset_selection=[minutes_key(c) for c in cameras],
        description="Starts runs for clips that arrived since the last tick, grouped per camera into ranges",
    )
    def new_clips_sensor(context: SensorEvaluationContext, clips: ClipSource) -> SensorResult:
        cursor = NewClipsCursor.from_json(json.loads(context.cursor) if context.cursor else None)
        try:
            scan = scan_new_clips(clips.store(), list(cameras), cursor, slot_of, now())
        except ClipStoreError as exc:
            context.log.error(str(exc))
            return SensorResult(skip_reason=str(exc))
        requests = []
        for camera_id, keys in scan.partition_keys.items():
            for camera_range in camera_ranges(camera_id, minutes_key(camera_id), keys, partitions[camera_id],
                                              max_per_run):
                requests.append(camera_range.run_request(
                    run_key=f"{camera_id}:{camera_range.first}:{camera_range.last}"))
        events = []
        if scan.new_problems:
            for problem in scan.new_problems:
                context.log.warning(f"clip store: {problem}")
            events.append(AssetCheckEvaluation(
                asset_key=CLIP_STORE_KEY,
                check_name=CLIP_LAYOUT_CHECK,
                passed=False,
                severity=AssetCheckSeverity.WARN,
                description=f"{len(scan.new_problems)} new clip(s) or folder(s) the pipeline cannot use",
                metadata={"new_problems": MetadataValue.json(scan.new_problems[:200]),
                          "new_problem_count": len(scan.new_problems)},
            ))
        return SensorResult(run_requests=requests, cursor=json.dumps(scan.cursor.to_json()), asset_events=events)

    return new_clips_sensor
