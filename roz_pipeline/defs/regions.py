"""`heatmap_regions/<camera>`: the activity series of each named region of a camera (cameras.yaml `regions`), so
that `roz when` reads one number per minute. New minutes get their values as they are written; this asset
computes them for every stored minute when a region is added or moved. Its code version is the camera's regions:
declarative automation runs it when they change (and once at first).
"""

import hashlib
import json

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    asset,
)

from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import CAMERA_TAG, REGIONS_PREFIX, regions_key
from roz_pipeline.lib.policies import REGIONS_GROUP, TRANSIENT_RETRY, WRITER_POOL, camera_group
from roz_pipeline.lib.resources import HeatmapDatabase
from roz_pipeline.registry import Camera
from roz_pipeline.usecases.regions import complete_region_series

# Built once (not retried after a failed run: its alert says why), and again whenever the regions change.
REGIONS_CONDITION = (
    AutomationCondition.code_version_changed()
    | (AutomationCondition.missing() & ~AutomationCondition.in_progress() & ~AutomationCondition.execution_failed())
).with_label("regions added, moved or never built")


def build_domain(served: ServedCameras) -> Definitions:
    """The region series of the cameras with named regions, and the automation sensor that runs them."""
    assets = [regions_asset(camera) for camera in served if camera.regions]
    return Definitions(assets=assets, sensors=[build_regions_automation_sensor()] if assets else [])


def build_regions_automation_sensor() -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "regions_automation_sensor",
        target=AssetSelection.key_prefixes([REGIONS_PREFIX]),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Requests the region series of cameras whose regions changed (declarative automation)",
    )


def regions_version(camera: Camera) -> str:
    """A short digest of the camera's named regions: it changes exactly when one is added, moved or removed."""
    described = json.dumps(sorted((name, list(box)) for name, box in camera.regions.items()))
    return hashlib.sha256(described.encode()).hexdigest()[:12]


def regions_asset(camera: Camera):
    """The camera's region-series asset (only for a camera with named regions)."""
    camera_id = camera.camera_id

    @asset(key=regions_key(camera_id), group_name=camera_group(camera.site, REGIONS_GROUP),
           code_version=regions_version(camera),
           automation_condition=REGIONS_CONDITION, retry_policy=TRANSIENT_RETRY, pool=WRITER_POOL,
           kinds={"postgres"}, tags={CAMERA_TAG: camera_id},
           description=f"Per-minute activity inside each named region of camera {camera_id}: "
                       f"{', '.join(sorted(camera.regions))}")
    def _regions(context: AssetExecutionContext, database: HeatmapDatabase) -> MaterializeResult:
        database.migrate()
        with database.connection() as conn:
            computed = complete_region_series(conn, camera)
        for name, minutes in computed.items():
            context.log.info(f"region {name}: {minutes} stored minute(s) computed" if minutes else
                             f"region {name}: already complete")
        return MaterializeResult(metadata={
            "regions": {name: list(box) for name, box in camera.regions.items()},
            "minutes_computed": sum(computed.values())})

    return _regions
