"""Asset checks the UI shows: the clip store's layout, and each camera's freshness and recent gaps.

`new_clips_sensor` and `stale_cameras_sensor` also record evaluations of these checks when what they see changes;
the checks themselves can be run from the UI at any time.
"""

from datetime import datetime, timedelta, timezone

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from roz_pipeline import settings
from roz_pipeline.clips.stores import top_level_problems
from roz_pipeline.monitoring import evaluate, gap_ranges
from roz_pipeline.registry import Camera
from roz_pipeline.storage.heatmaps import first_minute_after, missing_minutes, newest_minutes

CLIP_LAYOUT_CHECK = "clip_layout"
FRESHNESS_CHECK = "fresh"
GAPS_CHECK = "recent_gaps"


def build_clip_layout_check(cameras: dict):
    """A check listing clips and folders the pipeline cannot use: unregistered cameras, malformed keys."""

    @asset_check(asset="clip_store", name=CLIP_LAYOUT_CHECK, description="Every clip follows the layout and "
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


def build_camera_checks(camera: Camera, clock=None) -> list:
    """`fresh` (newest minute within stale_after_minutes) and `recent_gaps` (no missing minute in recent hours)."""
    now = clock or (lambda: datetime.now(timezone.utc))
    key = AssetKey(["heatmap_minutes", camera.camera_id])

    @asset_check(asset=key, name=FRESHNESS_CHECK, required_resource_keys={"database"},
                 description=f"The newest stored minute is at most {camera.stale_after_minutes} minutes old")
    def fresh(context) -> AssetCheckResult:
        with context.resources.database.connection() as conn:
            freshness = evaluate(camera.camera_id, camera.stale_after_minutes,
                                 newest_minutes(conn, [camera.camera_id]).get(camera.camera_id), now())
        metadata = {"state": freshness.state}
        if freshness.age is not None:
            metadata["age_minutes"] = round(freshness.age.total_seconds() / 60, 1)
        return AssetCheckResult(passed=freshness.state == "fresh", metadata=metadata)

    @asset_check(asset=key, name=GAPS_CHECK, required_resource_keys={"database"},
                 description="No minute without a row in the last ROZ_GAP_CHECK_HOURS hours (default 6)")
    def recent_gaps(context) -> AssetCheckResult:
        end = now().replace(second=0, microsecond=0)
        start = end - timedelta(hours=float(settings.env("ROZ_GAP_CHECK_HOURS", "6")))
        with context.resources.database.connection() as conn:
            first = first_minute_after(conn, camera.camera_id, start - timedelta(minutes=1))
            missing = missing_minutes(conn, camera.camera_id, first, end) if first else []
        ranges = [f"{a:%Y-%m-%d %H:%M}" + ("" if a == b else f" to {b:%H:%M}") for a, b in gap_ranges(missing)]
        return AssetCheckResult(
            passed=not missing,
            severity=AssetCheckSeverity.WARN,
            metadata={"missing_minutes": len(missing), "gaps": MetadataValue.json(ranges[:200]),
                      "window_start": MetadataValue.timestamp(start), "window_end": MetadataValue.timestamp(end)},
        )

    return [fresh, recent_gaps]
