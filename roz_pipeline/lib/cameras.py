"""The cameras one code location serves, each with its partitions built once: what every domain module builds its
`Definitions` from (`build_domain(served)` in each module of roz_pipeline/defs/)."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from dagster import TimeWindowPartitionsDefinition

from roz_pipeline.lib.partitions import camera_partitions, partitions_per_run
from roz_pipeline.registry import Camera, Shard


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ServedCameras:
    by_id: dict[str, Camera]  # the cameras of this code location (its sites)
    registry: dict[str, Camera]  # every camera of the registry: another location's cameras are not unregistered
    maintains: bool  # this location holds the schema, the clip store, retention and VACUUM
    partitions_start: str  # UTC date of the first partition
    grain: str  # the camera assets' partitions: "hour" or "minute" (settings.PARTITION_GRAINS)
    clock: Callable[[], datetime] = _utc_now  # tests replace it, and `sleep`, to pace sensors and followed hours
    sleep: Callable[[float], None] = time.sleep
    partitions: dict[str, TimeWindowPartitionsDefinition] = field(init=False)  # camera id -> its asset's
    # (camera id, "hour" or "day") -> its rollup asset's: from partitions_start, within its rollup retention
    rollup_partitions: dict[tuple[str, str], TimeWindowPartitionsDefinition] = field(init=False)

    def __post_init__(self):
        moment = self.clock()
        object.__setattr__(self, "partitions", {
            camera_id: camera_partitions(self.partitions_start, self.grain, camera.retention_days, moment)
            for camera_id, camera in self.by_id.items()})
        object.__setattr__(self, "rollup_partitions", {
            (camera_id, rollup): camera_partitions(self.partitions_start, rollup, camera.rollup_retention_days, moment)
            for camera_id, camera in self.by_id.items() for rollup in ("hour", "day")})

    @classmethod
    def of(cls, shard: Shard, partitions_start: str, grain: str, clock=None, sleep=time.sleep) -> "ServedCameras":
        return cls(shard.cameras, shard.registry, shard.maintains, partitions_start, grain, clock or _utc_now, sleep)

    def __iter__(self):
        return iter(self.by_id.values())

    @property
    def ids(self) -> list[str]:
        return list(self.by_id)

    @property
    def followed_live(self) -> bool:
        """At the hour grain the hour in progress is followed live; minute partitions run once each has settled."""
        return self.grain == "hour"

    @property
    def partitions_per_run(self) -> int:
        return partitions_per_run(self.grain)
