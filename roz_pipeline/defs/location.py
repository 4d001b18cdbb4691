"""Build the code location's Definitions from the camera registry and the environment."""

import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from dagster import BetaWarning, Definitions

from roz_pipeline import settings
from roz_pipeline.defs.executors import executor_from_environment
from roz_pipeline.defs.health import build_camera_checks, build_run_failure_alert_sensor, build_stale_cameras_sensor
from roz_pipeline.defs.live import build_follow_job, build_follow_sensor
from roz_pipeline.defs.maintenance import build_retention_job, build_schedules, vacuum_analyze_job
from roz_pipeline.defs.minutes import camera_asset
from roz_pipeline.defs.new_clips import build_clip_layout_check, build_new_clips_sensor, clip_store
from roz_pipeline.defs.partitions import MINUTES_PER_RUN, camera_partitions
from roz_pipeline.defs.resources import resources_from_environment
from roz_pipeline.defs.regions import regions_asset
from roz_pipeline.defs.rollups import build_regions_automation_sensor, build_rollup_sensor, rollup_assets
from roz_pipeline.defs.schema import roz_schema
from roz_pipeline.registry import load_registry, shard_of

# Beta parameters of Dagster's that Roz relies on knowingly (ranged backfills, rollups of hours before the first
# partition, the automation sensor Dagster builds): their BetaWarnings, one per camera asset, would fill every
# process's log when it loads the code location. Silenced while the definitions are built, and only these.
ACCEPTED_BETA_PARAMETERS = ("backfill_policy", "allow_nonexistent_upstream_partitions", "owners")


@contextmanager
def accepted_beta_parameters():
    with warnings.catch_warnings():
        for parameter in ACCEPTED_BETA_PARAMETERS:
            warnings.filterwarnings("ignore", message=f"Parameter `{parameter}` of ", category=BetaWarning)
        yield


def build_definitions(
    cameras_file: Path | None = None,
    resources: dict | None = None,
    partitions_start: str | None = None,
    grain: str | None = None,
    clock=None,
    sleep=time.sleep,
) -> Definitions:
    """Definitions for the cameras in `cameras_file`; every argument defaults to the environment's setting.
    `clock` and `sleep` (tests) pace the sensors, checks and followed hours."""
    with accepted_beta_parameters():
        definitions = _definitions(cameras_file, resources, partitions_start, grain, clock, sleep)
        definitions.get_repository_def()  # resolved here, where the accepted warnings are silenced
    return definitions


def _definitions(cameras_file, resources, partitions_start, grain, clock, sleep) -> Definitions:
    shard = shard_of(load_registry(cameras_file or settings.cameras_file()), settings.sites())
    cameras = shard.cameras
    start = partitions_start or settings.partitions_start()
    grain = grain or settings.partition_grain()
    moment = (clock or (lambda: None))()
    partitions = {c.camera_id: camera_partitions(start, grain, c.retention_days, moment) for c in cameras.values()}
    max_per_run = MINUTES_PER_RUN if grain == "minute" else 1
    # The hour in progress is followed live; minute partitions are run once each has settled (new_clips_sensor).
    follow_job = build_follow_job(cameras, partitions, clock, sleep) if grain == "hour" else None
    resources = dict(resources if resources is not None else resources_from_environment())
    resources.setdefault("schema_owner", resources["database"])
    return Definitions.merge(
        _maintenance(shard.registry) if shard.maintains else Definitions(),
        Definitions(
            assets=[*(camera_asset(camera, partitions[camera.camera_id], grain, clock) for camera in cameras.values()),
                    *(rollup for camera in cameras.values() for rollup in rollup_assets(camera, start)),
                    *(regions_asset(camera) for camera in cameras.values() if camera.regions)],
            asset_checks=[check for camera in cameras.values() for check in build_camera_checks(camera, clock)],
            jobs=[follow_job] if follow_job else [],
            sensors=[build_new_clips_sensor(cameras, shard.registry, partitions, grain, max_per_run, clock),
                     *([build_follow_sensor(cameras, partitions, follow_job, clock)] if follow_job else []),
                     build_stale_cameras_sensor(cameras, clock),
                     build_run_failure_alert_sensor(),
                     build_rollup_sensor(cameras, start, grain, clock),
                     *([build_regions_automation_sensor()] if any(c.regions for c in cameras.values()) else [])],
            resources=resources,
            executor=executor_from_environment(),
        ),
    )


def _maintenance(registry: dict) -> Definitions:
    """What exactly one code location holds however the registry is split: the schema, the clip store and its
    layout check, retention (over every camera of the registry) and VACUUM ANALYZE, with their schedules."""
    retention_job = build_retention_job(registry)
    return Definitions(
        assets=[roz_schema, clip_store],
        asset_checks=[build_clip_layout_check(registry)],
        jobs=[retention_job, vacuum_analyze_job],
        schedules=build_schedules(retention_job, vacuum_analyze_job),
    )
