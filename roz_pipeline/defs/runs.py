"""Runs started from the command line (`roz materialize`), the way a UI backfill starts them: ranged runs of up
to an hour of footage, recorded in the DAGSTER_HOME instance and executed by the code location's executor
(Celery workers when ROZ_EXECUTOR=celery)."""

import os
from collections.abc import Iterator
from datetime import datetime

from dagster import AssetKey, DagsterInstance, JobExecutionResult, TimeWindow, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

CODE_LOCATION = "roz_pipeline.definitions"  # what workspace.yaml loads; workers reconstruct the job from it


def run_camera_range(camera_id: str, start: datetime, end: datetime,
                     instance: DagsterInstance) -> Iterator[tuple[str, str, JobExecutionResult]]:
    """Materialize `heatmap_minutes/<camera_id>` for the partitions starting in `start <= t < end`, one ranged run
    per BackfillPolicy chunk, one after the other; yields each run's first and last partition key and result."""
    from roz_pipeline.definitions import defs

    key = AssetKey(["heatmap_minutes", camera_id])
    node = defs.resolve_asset_graph().get(key)  # KeyError: not a registered camera
    keys = node.partitions_def.get_partition_keys_in_time_window(TimeWindow(start, end))
    if not keys:
        raise ValueError(f"no partition of {key.to_user_string()} starts between {start} and {end}")
    job = ReconstructableRepository.for_module(CODE_LOCATION, "defs", working_directory=os.getcwd()) \
        .get_reconstructable_job("__ASSET_JOB")
    per_run = node.backfill_policy.max_partitions_per_run
    for first in range(0, len(keys), per_run):
        chunk = keys[first:first + per_run]
        yield chunk[0], chunk[-1], execute_job(job, instance, asset_selection=[key], tags={
            ASSET_PARTITION_RANGE_START_TAG: chunk[0], ASSET_PARTITION_RANGE_END_TAG: chunk[-1], "camera": camera_id})
