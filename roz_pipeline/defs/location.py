"""Build the code location's Definitions from the camera registry and the environment."""

from pathlib import Path

from dagster import Definitions

from roz_pipeline import settings
from roz_pipeline.defs.assets import camera_asset, clip_store, roz_schema
from roz_pipeline.defs.checks import build_clip_layout_check
from roz_pipeline.defs.partitions import MINUTES_PER_RUN, camera_partitions
from roz_pipeline.defs.resources import resources_from_environment
from roz_pipeline.defs.sensors import build_new_clips_sensor
from roz_pipeline.registry import load_registry


def build_definitions(
    cameras_file: Path | None = None,
    resources: dict | None = None,
    partitions_start: str | None = None,
    grain: str | None = None,
    clock=None,
) -> Definitions:
    """Definitions for the cameras in `cameras_file`; every argument defaults to the environment's setting."""
    cameras = load_registry(cameras_file or settings.cameras_file())
    start = partitions_start or settings.partitions_start()
    grain = grain or settings.partition_grain()
    partitions = camera_partitions(start, grain)
    max_per_run = MINUTES_PER_RUN if grain == "minute" else 1
    return Definitions(
        assets=[roz_schema, clip_store, *(camera_asset(camera, start, grain) for camera in cameras.values())],
        asset_checks=[build_clip_layout_check(cameras)],
        sensors=[build_new_clips_sensor(cameras, partitions, max_per_run, clock)],
        resources=resources if resources is not None else resources_from_environment(),
    )

