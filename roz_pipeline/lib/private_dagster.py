"""The few names Roz takes from Dagster's private modules (`dagster._...`), because Dagster exports no public one that
does the same; here only (test_structure.py checks it), so that a Dagster upgrade that moves them breaks this one
module, at import, and nothing else.

- The tags of a ranged run (partitions first..last of an asset in one run): Dagster sets and reads them (backfills,
  the UI's run page) but exports no constant for them. Roz sets them on its camera runs and reads them back.
- ReconstructableRepository: `roz materialize` executes the asset job of the code location's `defs`, reconstructed
  from the module workspace.yaml loads, so that every run worker (a subprocess, a Celery worker) rebuilds the same
  job. The public `reconstructable` / `build_reconstructable_job` rebuild a job from a function of our own instead.
"""

from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

__all__ = ["ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG", "ReconstructableRepository"]
