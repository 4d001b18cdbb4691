"""What the explorer's cameras page shows, without the web: each camera's standing today."""

from dataclasses import dataclass
from datetime import datetime

import psycopg

from roz_pipeline.core.timesteps import DAY, MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import newest_minutes
from roz_pipeline.usecases.coverage import Coverage, coverage
from roz_pipeline.usecases.monitoring import evaluate

TROUBLE_FIRST = ("stale", "behind", "never_seen", "quiet", "fresh")  # the order of the cameras page


@dataclass(frozen=True)
class Standing:
    camera: Camera
    newest_minute: datetime | None
    state: str  # as the stale sensor judges from the minutes alone: one of TROUBLE_FIRST


@dataclass(frozen=True)
class CameraToday:
    standing: Standing
    elapsed_minutes: int  # minutes of today (UTC) that have ended
    today: Coverage  # today's minutes without full footage

    @property
    def with_footage(self) -> int:
        return self.elapsed_minutes - len(self.today.missing) - len(self.today.waiting) - len(self.today.quiet)


def standings(conn: psycopg.Connection, cameras: list[Camera], now: datetime) -> list[Standing]:
    """Every camera's newest minute and freshness (one query for all), the troubled ones first, then by id."""
    newest = newest_minutes(conn, [camera.camera_id for camera in cameras])
    found = [Standing(camera, newest.get(camera.camera_id),
                      evaluate(camera.camera_id, camera.stale_after_minutes, newest.get(camera.camera_id), now,
                               motion_only=camera.motion_only).state)
             for camera in cameras]
    return sorted(found, key=lambda s: (TROUBLE_FIRST.index(s.state), s.camera.camera_id))


def cameras_today(conn: psycopg.Connection, shown: list[Standing], waiting: dict[str, set[datetime]],
                  now: datetime) -> list[CameraToday]:
    """Today's coverage of the cameras `shown` (`waiting`: per camera, the minutes the clip inventory holds footage
    for that no run has read yet)."""
    day, current = floor(now, DAY), floor(now, MINUTE)
    elapsed = int((current - day) / MINUTE)
    return [CameraToday(standing, elapsed, coverage(conn, standing.camera, day, current,
                                                    waiting.get(standing.camera.camera_id, set())))
            for standing in shown]
