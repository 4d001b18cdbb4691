"""Which hour and day rollups to compute now: each period whose sources changed, once the period has ended and no
run is still writing its sources. The work per tick is what changed, whatever the number of cameras.

Minutes stored while their hour is in progress (the run following it) make the hour pending, not ready: the hour is
rolled up once when it has ended. A rolled-up hour makes its day pending the same way.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from roz_pipeline.core.timesteps import DAY, HOUR, steps

STEP = {"hour": HOUR, "day": DAY}
KEY_FORMAT = "%Y-%m-%d-%H:%M"


@dataclass
class PendingRollups:
    """Per rollup grain, the periods (by start) whose sources changed, each with the cameras concerned."""

    periods: dict[str, dict[datetime, set[str]]] = field(default_factory=lambda: {"hour": {}, "day": {}})

    def sources_changed(self, grain: str, camera_id: str, start: datetime, end: datetime) -> None:
        """Sources of `camera_id` covering `start`..`end` were written: their hours (or days) need rolling up."""
        for period in periods_of(grain, start, end):
            self.periods[grain].setdefault(period, set()).add(camera_id)

    def take_ready(self, grain: str, now: datetime, busy: set[tuple[str, datetime]]) -> dict[str, list[datetime]]:
        """The periods that have ended, per camera, leaving out the (camera, period) pairs whose sources a run is
        still writing (they stay pending)."""
        ready: dict[str, list[datetime]] = {}
        pending = self.periods[grain]
        for period in [p for p in pending if p + STEP[grain] <= now]:
            waiting = {camera_id for camera_id in pending[period] if (camera_id, period) in busy}
            for camera_id in pending[period] - waiting:
                ready.setdefault(camera_id, []).append(period)
            if waiting:
                pending[period] = waiting
            else:
                del pending[period]
        return {camera_id: sorted(periods) for camera_id, periods in ready.items()}

    def has_ended(self, grain: str, now: datetime) -> bool:
        return any(period + STEP[grain] <= now for period in self.periods[grain])

    def to_json(self) -> dict:
        return {grain: {period.strftime(KEY_FORMAT): sorted(cameras) for period, cameras in sorted(periods.items())}
                for grain, periods in self.periods.items()}

    @classmethod
    def from_json(cls, data: dict | None) -> "PendingRollups":
        pending = cls()
        for grain, periods in (data or {}).items():
            for key, cameras in periods.items():
                start = datetime.strptime(key, KEY_FORMAT).replace(tzinfo=timezone.utc)
                pending.periods[grain][start] = set(cameras)
        return pending


def periods_of(grain: str, start: datetime, end: datetime) -> list[datetime]:
    """The starts of the hours or days (`grain`) overlapping `start`..`end`."""
    return steps(start, end, STEP[grain])
