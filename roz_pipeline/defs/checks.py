"""Asset checks the UI shows: the clip store's layout (also reported by `new_clips_sensor` when it changes)."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from roz_pipeline.clips.stores import top_level_problems

CLIP_LAYOUT_CHECK = "clip_layout"


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
