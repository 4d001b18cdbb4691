"""Every Dagster name Roz uses: asset keys, step keys, check names and run tags (the partition-range tags a ranged
run carries are Dagster's own, from lib/private_dagster.py)."""

from dagster import AssetKey

from roz_pipeline.lib.private_dagster import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

SCHEMA_KEY = AssetKey("roz_schema")
CLIP_STORE_KEY = AssetKey("clip_store")

MINUTES_PREFIX, HOURS_PREFIX, DAYS_PREFIX = "heatmap_minutes", "heatmap_hours", "heatmap_days"
REGIONS_PREFIX = "heatmap_regions"

CLIP_LAYOUT_CHECK = "clip_layout"
FRESHNESS_CHECK = "fresh"
GAPS_CHECK = "recent_gaps"

FOLLOW_JOB = "follow_cameras_job"  # the runs following the hour in progress (defs.live)

CAMERA_TAG = "camera"  # on every camera run: the queue runs one run per camera at a time (deploy/dagster.yaml)
FOLLOW_TAG = "roz/follow"  # on the run following cameras' hour in progress (its value: the hour's partition key)
HEARTBEAT_TAG = "roz/heartbeat"  # on a following run: when its process last said it was alive (ISO time, UTC)
RANGE_START_TAG, RANGE_END_TAG = ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG
PARTITION_TAG = "dagster/partition"


def minutes_key(camera_id: str) -> AssetKey:
    return AssetKey([MINUTES_PREFIX, camera_id])


def hours_key(camera_id: str) -> AssetKey:
    return AssetKey([HOURS_PREFIX, camera_id])


def days_key(camera_id: str) -> AssetKey:
    return AssetKey([DAYS_PREFIX, camera_id])


def regions_key(camera_id: str) -> AssetKey:
    return AssetKey([REGIONS_PREFIX, camera_id])


def camera_of_step(step_key: str | None) -> str | None:
    """The camera whose minutes asset a step materializes (`heatmap_minutes__<camera>`), else None."""
    prefix = f"{MINUTES_PREFIX}__"
    return step_key.removeprefix(prefix) if step_key and step_key.startswith(prefix) else None


def camera_run_tags(camera_id: str, first_key: str, last_key: str) -> dict[str, str]:
    """The tags of a run materializing partitions `first_key`..`last_key` of one camera's assets (a range of one
    partition too: Dagster then accepts a window that has not ended yet, e.g. the hour in progress)."""
    return {CAMERA_TAG: camera_id, RANGE_START_TAG: first_key, RANGE_END_TAG: last_key}
