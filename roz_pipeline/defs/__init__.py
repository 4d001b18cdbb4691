"""The Dagster layer's domains, a module each: `build_domain(served)` returns the domain's Definitions (assets,
checks, jobs, sensors, schedules) for the cameras this code location serves (lib/cameras.ServedCameras). What the
domains share (keys, resources, partitions, policies, ranged runs) is in roz_pipeline/lib/.

`build_definitions` merges the domains listed in DOMAINS with the resources and the executor; the code location
(roz_pipeline/definitions.py, which workspace.yaml and `dg` load) calls it once. A module dropped here is not loaded
by itself: to add a domain, write `roz_pipeline/defs/<domain>.py` with a `build_domain(served: ServedCameras) ->
Definitions` that builds every object inside it (nothing Dagster at module level: a code location built twice, as
the tests do, must not share definitions), add the module to DOMAINS below, and name it in the README's layout
table (test_structure.py checks both).
"""

import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from dagster import BetaWarning, Definitions

from roz_pipeline import settings
from roz_pipeline.defs import health, live, maintenance, minutes, new_clips, regions, rollups, stale
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.executors import executor_from_environment
from roz_pipeline.lib.resources import resources_from_environment
from roz_pipeline.registry import load_registry, shard_of

DOMAINS = (maintenance, new_clips, minutes, health, stale, live, rollups, regions)  # each: build_domain(served)

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
    served = ServedCameras.of(shard, partitions_start or settings.partitions_start(),
                              grain or settings.partition_grain(), clock, sleep)
    resources = dict(resources if resources is not None else resources_from_environment())
    return Definitions.merge(*(domain.build_domain(served) for domain in DOMAINS),
                             Definitions(resources=resources, executor=executor_from_environment()))
