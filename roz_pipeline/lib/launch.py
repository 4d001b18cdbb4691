"""One way to launch a camera's partitions: ranged runs of at most the asset's BackfillPolicy size.

The sensor turns ranges into RunRequests; `roz materialize` and `roz demo` execute them on an instance. Both
ask `camera_ranges` for the ranges and `CameraRange` for the run's tags, so every run looks the same in the UI.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    DagsterInstance,
    Definitions,
    JobExecutionResult,
    RunRequest,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    execute_job,
)

from roz_pipeline.lib.keys import camera_run_tags
from roz_pipeline.lib.private_dagster import ReconstructableRepository

CODE_LOCATION_MODULE = "roz_pipeline.definitions"  # the module workspace.yaml loads; run workers rebuild jobs from it
# Runs print errors only (the command sums up the rest); every event still goes to the instance (the UI shows them).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


LOCAL_INSTANCE_CONFIG = ("# The local Dagster instance of roz materialize and ./run ui: Dagster's defaults "
                         "(SQLite in this folder).\n")


def local_instance_folder(home: Path) -> Path:
    """`home` ready as a Dagster instance folder: created, with a dagster.yaml (so Dagster does not say it has none)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_CONFIG)
    return home


@dataclass(frozen=True)
class CameraRange:
    """Partitions `first`..`last` (keys, inclusive) of one camera's asset `asset_key`."""

    camera_id: str
    asset_key: object
    first: str
    last: str

    @property
    def tags(self) -> dict[str, str]:
        return camera_run_tags(self.camera_id, self.first, self.last)

    def run_request(self, run_key: str) -> RunRequest:
        return RunRequest(run_key=run_key, asset_selection=[self.asset_key], tags=self.tags)


def camera_ranges(camera_id: str, asset_key, partition_keys: list[str], partitions: TimeWindowPartitionsDefinition,
                  max_per_run: int) -> list[CameraRange]:
    """Contiguous runs of `partition_keys` (in partition order), each at most `max_per_run` partitions long."""
    ranges: list[list[str]] = []
    for key in sorted(set(partition_keys)):
        start = partitions.time_window_for_partition_key(key).start
        previous = ranges[-1][-1] if ranges else None
        contiguous = previous is not None and partitions.time_window_for_partition_key(previous).end == start
        if contiguous and len(ranges[-1]) < max_per_run:
            ranges[-1].append(key)
        else:
            ranges.append([key])
    return [CameraRange(camera_id, asset_key, r[0], r[-1]) for r in ranges]


def ranges_in_window(defs: Definitions, asset_key, camera_id: str, window: TimeWindow) -> list[CameraRange]:
    """The ranged runs that materialize the asset's partitions overlapping `window`, as a UI backfill would.

    KeyError when `asset_key` is not in `defs` (an unregistered camera); ValueError when no partition overlaps it.
    """
    node = defs.resolve_asset_graph().get(asset_key)
    partitions = node.partitions_def
    start = window.start
    if start >= partitions.start:  # from the start of the partition holding `start`
        start = partitions.time_window_for_partition_key(
            partitions.get_partition_key_for_timestamp(start.timestamp())).start
    keys = partitions.get_partition_keys_in_time_window(TimeWindow(start, window.end))
    if not keys:
        raise ValueError(f"no partition of {asset_key.to_user_string()} overlaps {window.start} to {window.end}")
    per_run = node.backfill_policy.max_partitions_per_run
    return [CameraRange(camera_id, asset_key, keys[i], keys[min(i + per_run, len(keys)) - 1])
            for i in range(0, len(keys), per_run)]


def execute_ranges(ranges: list[CameraRange], instance: DagsterInstance, in_process: Definitions | None = None,
                   verbose: bool = False) -> Iterator[tuple[CameraRange, JobExecutionResult]]:
    """Run each range, one after the other: through the code location's executor (Celery when configured), or
    inside this process with the resources of `in_process` (`roz demo`). The console shows errors, every event
    with `verbose`; the instance keeps them all for the UI."""
    run_config = {} if verbose else QUIET_CONSOLE
    if in_process is not None:
        job = in_process.resolve_implicit_global_asset_job_def()
        for camera_range in ranges:
            yield camera_range, job.execute_in_process(
                instance=instance, asset_selection=[camera_range.asset_key], raise_on_error=False,
                tags=camera_range.tags, run_config=run_config)
        return
    job = ReconstructableRepository.for_module(CODE_LOCATION_MODULE, "defs", working_directory=os.getcwd()) \
        .get_reconstructable_job("__ASSET_JOB")
    for camera_range in ranges:
        yield camera_range, execute_job(job, instance, asset_selection=[camera_range.asset_key],
                                        tags=camera_range.tags, run_config=run_config)
