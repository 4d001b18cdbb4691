"""`new_clips_sensor`: new clips -> ranged runs of the camera assets, and clip-store problems -> an asset check.

The cursor keeps, per camera, the last clip key handed to a run (keys sort by day and minute), plus the problems
already reported, so each problem is logged and recorded on the `clip_layout` check once. The sensor only reports
problems; run the `clip_layout` check from the UI to re-verify the whole store after fixing them.
"""

import json
from datetime import datetime, timezone

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from roz_pipeline.clips.stores import ClipStoreError, top_level_problems
from roz_pipeline.defs.assets import CLIP_STORE_KEY
from roz_pipeline.defs.checks import CLIP_LAYOUT_CHECK
from roz_pipeline.defs.resources import ClipSource
from roz_pipeline.registry import Camera


MAX_REMEMBERED_PROBLEMS = 500  # bounds the cursor; an older problem may be reported again


def group_partition_keys(keys: list[str], partitions, max_per_run: int) -> list[tuple[str, str]]:
    """Contiguous runs of partition keys (in partition order), each at most `max_per_run` long, as (first, last)."""
    ranges: list[list[str]] = []
    for key in sorted(set(keys)):
        start = partitions.time_window_for_partition_key(key).start
        previous = ranges[-1][-1] if ranges else None
        contiguous = previous is not None and partitions.time_window_for_partition_key(previous).end == start
        if contiguous and len(ranges[-1]) < max_per_run:
            ranges[-1].append(key)
        else:
            ranges.append([key])
    return [(r[0], r[-1]) for r in ranges]


def build_new_clips_sensor(cameras: dict[str, Camera], partitions: dict, max_per_run: int, clock=None):
    """The sensor for these cameras (`partitions`: each camera's partitions). `clock` is for tests."""
    now = clock or (lambda: datetime.now(timezone.utc))

    @sensor(
        name="new_clips_sensor",
        minimum_interval_seconds=30,
        asset_selection=[AssetKey(["heatmap_minutes", c]) for c in cameras],
        description="Starts runs for clips that arrived since the last tick, grouped per camera into ranges",
    )
    def new_clips_sensor(context: SensorEvaluationContext, clips: ClipSource) -> SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {"after": {}, "reported": []}
        store = clips.store()
        requests, problems = [], []
        current_time = now()
        try:
            problems += top_level_problems(store, cameras)
        except ClipStoreError as exc:
            context.log.error(str(exc))
            return SensorResult(skip_reason=str(exc))
        for camera_id in cameras:
            listing = store.clips_after(camera_id, cursor["after"].get(camera_id))
            problems += [p.message for p in listing.problems]
            keys, last_key = [], cursor["after"].get(camera_id)
            camera_partitions = partitions[camera_id]
            for clip in listing.clips:
                if clip.minute < camera_partitions.start:
                    problems.append(f"{clip.key}: before the camera's first partition "
                                    f"({camera_partitions.start:%Y-%m-%d}: ROZ_PARTITIONS_START or retention)")
                    last_key = clip.key
                    continue
                partition_key = camera_partitions.get_partition_key_for_timestamp(clip.minute.timestamp())
                if camera_partitions.time_window_for_partition_key(partition_key).end > current_time:
                    break  # the partition exists once its window has ended: take this clip on a later tick
                keys.append(partition_key)
                last_key = clip.key
            for first, last in group_partition_keys(keys, camera_partitions, max_per_run):
                requests.append(_run_request(camera_id, first, last))
            if last_key:
                cursor["after"][camera_id] = last_key
        reported = set(cursor["reported"])
        new = [problem for problem in dict.fromkeys(problems) if problem not in reported]
        events = []
        if new:
            for problem in new:
                context.log.warning(f"clip store: {problem}")
            events.append(AssetCheckEvaluation(
                asset_key=CLIP_STORE_KEY,
                check_name=CLIP_LAYOUT_CHECK,
                passed=False,
                severity=AssetCheckSeverity.WARN,
                description=f"{len(new)} new clip(s) or folder(s) the pipeline cannot use",
                metadata={"new_problems": MetadataValue.json(new[:200]), "new_problem_count": len(new)},
            ))
        cursor["reported"] = (cursor["reported"] + new)[-MAX_REMEMBERED_PROBLEMS:]
        return SensorResult(run_requests=requests, cursor=json.dumps(cursor), asset_events=events)

    return new_clips_sensor


def _run_request(camera_id: str, first: str, last: str) -> RunRequest:
    key = AssetKey(["heatmap_minutes", camera_id])
    tags = {"camera": camera_id}
    if first == last:
        return RunRequest(run_key=f"{camera_id}:{first}:{last}", asset_selection=[key], partition_key=first, tags=tags)
    tags |= {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    return RunRequest(run_key=f"{camera_id}:{first}:{last}", asset_selection=[key], tags=tags)
