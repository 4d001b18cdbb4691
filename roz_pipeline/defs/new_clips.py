"""Clips arriving: the `clip_store` source asset, its `clip_layout` check, and `new_clips_sensor`, which turns new
clips into ranged runs of the camera assets and clip-store problems into check evaluations (each problem once).

The sensor only reports problems; run the `clip_layout` check from the UI to re-verify the whole store after fixing
them. The bookkeeping lives in `usecases.new_clips`.
"""

import hashlib
import json
from datetime import datetime, timedelta, timezone

import psycopg

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSpec,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_check,
    sensor,
)

from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.timesteps import MINUTE
from roz_pipeline import settings
from roz_pipeline.defs.keys import CLIP_LAYOUT_CHECK, CLIP_STORE_KEY, minutes_key
from roz_pipeline.defs.launch import camera_ranges
from roz_pipeline.defs.resources import ClipSource, HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import stored_clip_keys
from roz_pipeline.usecases.live import SETTLE
from roz_pipeline.usecases.new_clips import NewClipsCursor, PartitionSlot, scan_new_clips

clip_store = AssetSpec(
    CLIP_STORE_KEY,
    group_name="sources",
    description="Clips in a local folder or an S3 bucket, laid out as ROZ_CLIP_LAYOUT says (roz, frigate or a template)",
)
LAYOUT_CHECK_DAYS = 2  # the clip_layout check reads the keys of the last days (listing all history would not scale)


def build_clip_layout_check(cameras: dict[str, Camera], clock=None):
    """A check listing clips and folders the pipeline cannot use: unregistered cameras, keys off the layout."""
    now = clock or (lambda: datetime.now(timezone.utc))

    @asset_check(asset=CLIP_STORE_KEY, name=CLIP_LAYOUT_CHECK, description="Every clip of the last "
                 f"{LAYOUT_CHECK_DAYS} days follows the layout and belongs to a registered camera",
                 required_resource_keys={"clips"})
    def clip_layout(context) -> AssetCheckResult:
        catalog = context.resources.clips.catalog(cameras.values())
        end = now()
        listing = catalog.clips_starting(list(cameras), end - timedelta(days=LAYOUT_CHECK_DAYS), end + MINUTE)
        problems = catalog.root_problems() + [p.message for p in listing.problems]
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            metadata={"problems": MetadataValue.json(problems[:200]), "problem_count": len(problems)},
        )

    return clip_layout


def build_new_clips_sensor(cameras: dict[str, Camera], partitions: dict, max_per_run: int,
                           clock=None):
    """The sensor for these cameras (`partitions`: each camera's partitions). `clock` is for tests."""
    now = clock or (lambda: datetime.now(timezone.utc))

    def slots(camera_id: str, start: datetime, end: datetime) -> list[PartitionSlot] | None:
        camera_partitions = partitions[camera_id]
        if start < camera_partitions.start:
            return None
        found, moment = [], start
        while moment < end:
            key = camera_partitions.get_partition_key_for_timestamp(moment.timestamp())
            window = camera_partitions.time_window_for_partition_key(key)
            found.append(PartitionSlot(key, window.start, window.end))
            moment = window.end
        return found

    @sensor(
        name="new_clips_sensor",
        minimum_interval_seconds=settings.sensor_interval_seconds(),
        asset_selection=[minutes_key(c) for c in cameras],
        description="Starts a run for every partition of the last ROZ_LATE_CLIP_DAYS that has ended and whose clips "
                    "changed and were not read (late and out-of-order clips; the hour in progress is "
                    "follow_cameras_sensor's)",
    )
    def new_clips_sensor(context: SensorEvaluationContext, clips: ClipSource,
                         database: HeatmapDatabase) -> SensorResult:
        cursor = NewClipsCursor.from_json(json.loads(context.cursor) if context.cursor else None)
        catalog = clips.catalog(cameras.values())
        longest = catalog.layout.longest_clip
        try:
            with database.connection() as conn:
                def unread(camera_id: str, slot: PartitionSlot, fed: list) -> list:
                    done = stored_clip_keys(conn, camera_id, slot.start - longest, slot.end + longest)
                    return [clip for clip in fed if clip.key not in done]

                scan = scan_new_clips(catalog, list(cameras), cursor, slots, unread, now(),
                                      timedelta(days=settings.late_clip_days()), SETTLE)
        except ClipStoreError as exc:
            context.log.error(str(exc))
            return SensorResult(skip_reason=str(exc))
        except psycopg.errors.UndefinedTable:
            return SkipReason("heatmap_minute_sources does not exist yet: run a camera asset or `roz db migrate`")
        requests = []
        for camera_id, fingerprints in scan.read.items():
            for camera_range in camera_ranges(camera_id, minutes_key(camera_id), list(fingerprints),
                                              partitions[camera_id], max_per_run):
                inputs = fingerprint_of(fingerprints[key] for key in sorted(fingerprints)
                                        if camera_range.first <= key <= camera_range.last)
                requests.append(camera_range.run_request(
                    run_key=f"{camera_id}:{camera_range.first}:{camera_range.last}:{inputs[:16]}"))
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


def fingerprint_of(parts) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
