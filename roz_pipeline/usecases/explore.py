"""What the explorer's cameras page shows, without the web: each camera's standing today."""

from dataclasses import dataclass
from datetime import datetime

import psycopg

from roz_pipeline.core.timesteps import DAY, MINUTE, floor
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import newest_minutes
from roz_pipeline.usecases.coverage import Coverage, coverage
from roz_pipeline.usecases.monitoring import evaluate


@dataclass(frozen=True)
class CameraToday:
    camera: Camera
    newest_minute: datetime | None
    state: str  # as the stale sensor judges from the minutes alone: fresh, quiet, stale, never_seen
    elapsed_minutes: int  # minutes of today (UTC) that have ended
    today: Coverage  # today's minutes without full footage

    @property
    def with_footage(self) -> int:
        return self.elapsed_minutes - len(self.today.missing) - len(self.today.waiting) - len(self.today.quiet)


def cameras_today(conn: psycopg.Connection, cameras: list[Camera], waiting: dict[str, set[datetime]],
                  now: datetime) -> list[CameraToday]:
    """Every camera's newest minute, freshness and today's coverage (`waiting`: per camera, the minutes the clip
    inventory holds footage for that no run has read yet)."""
    newest = newest_minutes(conn, [camera.camera_id for camera in cameras])
    day, current = floor(now, DAY), floor(now, MINUTE)
    elapsed = int((current - day) / MINUTE)
    return [CameraToday(camera, newest.get(camera.camera_id),
                        evaluate(camera.camera_id, camera.stale_after_minutes, newest.get(camera.camera_id), now,
                                 motion_only=camera.motion_only).state,
                        elapsed, coverage(conn, camera, day, current, waiting.get(camera.camera_id, set())))
            for camera in cameras]
