"""The clip layout: `<camera_id>/<YYYY-MM-DD>/<HH-MM>.<ext>` under the root or prefix, UTC, the minute it starts.

Anything else is reported as a problem, never guessed at.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from roz_pipeline.registry import CAMERA_ID_PATTERN

CLIP_EXTENSIONS = ("mp4", "mkv", "avi", "mov")
_KEY = re.compile(
    f"(?P<camera>{CAMERA_ID_PATTERN.pattern})/"
    r"(?P<day>\d{4}-\d{2}-\d{2})/(?P<hour>\d{2})-(?P<minute>\d{2})"
    r"\.(?P<ext>[A-Za-z0-9]{1,5})"
)


class LayoutError(ValueError):
    """A key that does not follow the clip layout; the message names the key."""


@dataclass(frozen=True)
class ClipRef:
    """A clip in a store: its key relative to the root/prefix, and the camera-minute it holds."""

    key: str
    camera_id: str
    minute: datetime  # UTC, start of the minute
    location: str  # where it is, for people and for heatmap_minutes.video_path (path or s3://bucket/key)


def parse_clip_key(key: str) -> tuple[str, datetime]:
    """(camera_id, UTC minute) of a clip key; LayoutError naming the key if it is not one."""
    match = _KEY.fullmatch(key)
    if not match:
        raise LayoutError(f"{key!r} is not <camera_id>/<YYYY-MM-DD>/<HH-MM>.<mp4|mkv|avi|mov>")
    if match["ext"].lower() not in CLIP_EXTENSIONS:
        raise LayoutError(f"{key!r}: .{match['ext']} is not a clip extension ({', '.join(CLIP_EXTENSIONS)})")
    try:
        day = datetime.strptime(match["day"], "%Y-%m-%d")
        minute = day.replace(hour=int(match["hour"]), minute=int(match["minute"]), tzinfo=timezone.utc)
    except ValueError:
        raise LayoutError(f"{key!r}: {match['day']} {match['hour']}:{match['minute']} is not a valid UTC time") from None
    return match["camera"], minute


def day_prefix(camera_id: str, day: datetime) -> str:
    """The key prefix of one camera-day: `<camera_id>/<YYYY-MM-DD>/`."""
    return f"{camera_id}/{day:%Y-%m-%d}/"

