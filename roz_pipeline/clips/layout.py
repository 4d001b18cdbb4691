"""Clip layouts: how a key under the root or prefix names its camera and the time its first frame was recorded.

A layout is a template of the key without its extension: `{camera}` once, the strftime fields %Y %m %d %H %M
(required) and %S %f (optional), anything else literal. `roz` and `frigate` are named templates. Times in names are
wall-clock times in the layout's time zone (ROZ_CLIP_TIMEZONE, default UTC), DST included: a name inside the hour
that clocks skip is refused; a name inside the hour that repeats when clocks go back is read as its first
occurrence (recorders that name files in UTC, like Frigate, have neither). Anything else is reported as a problem,
never guessed at.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from roz_pipeline.core.timesteps import HOUR, steps
from roz_pipeline.registry import SOURCE_NAME_PATTERN

CLIP_EXTENSIONS = ("mp4", "mkv", "avi", "mov")
NAMED_LAYOUTS = {
    "roz": "{camera}/%Y-%m-%d/%H-%M",
    "frigate": "%Y-%m-%d/%H/{camera}/%M.%S",  # Frigate's recordings/ folder (UTC)
}
# How long a clip may be: a window's listing reaches back this far for a clip that started before the window.
LONGEST_CLIP = {"frigate": timedelta(seconds=60)}  # Frigate refuses segment_time above 60 s
DEFAULT_LONGEST_CLIP = timedelta(hours=1)

_FIELD_PATTERNS = {"Y": r"\d{4}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}", "S": r"\d{2}",
                   "f": r"\d{1,6}"}
_REQUIRED_FIELDS = "YmdHM"
_FINER_THAN_HOUR = "MSf"
QUARTER_HOUR = timedelta(minutes=15)
_TOKEN = re.compile(r"\{camera\}|%[A-Za-z%]")


class LayoutError(ValueError):
    """A key that does not follow the clip layout; the message names the key."""


@dataclass(frozen=True)
class ClipName:
    """What a key says: the camera's name in the store and when the clip's first frame was recorded (UTC)."""

    camera: str
    start: datetime


class ClipLayout:
    """One layout: parses keys and says which key prefixes hold the clips of a time window."""

    def __init__(self, template: str, time_zone: str = "UTC", longest_clip: timedelta = DEFAULT_LONGEST_CLIP,
                 name: str | None = None):
        self.template = template
        self.name = name or template
        self.longest_clip = longest_clip
        try:
            self.zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"ROZ_CLIP_TIMEZONE: unknown time zone {time_zone!r} (an IANA name such as "
                             "Europe/Berlin)") from None
        self.tokens = [t for t in re.split(f"({_TOKEN.pattern})", template) if t]
        fields = [t[1] for t in self.tokens if t.startswith("%")]
        unknown = sorted({f for f in fields if f not in _FIELD_PATTERNS})
        problems = []
        if self.tokens.count("{camera}") != 1:
            problems.append("it must contain {camera} exactly once")
        if unknown:
            problems.append(f"it uses %{', %'.join(unknown)}; only %Y %m %d %H %M %S %f are understood")
        missing = [f"%{f}" for f in _REQUIRED_FIELDS if f not in fields]
        if missing:
            problems.append(f"it lacks {' '.join(missing)}")
        if len(fields) != len(set(fields)):
            problems.append("a field appears twice")
        if problems:
            raise ValueError(f"ROZ_CLIP_LAYOUT {template!r}: {'; '.join(problems)}")
        pattern = "".join(f"(?P<camera>{SOURCE_NAME_PATTERN.pattern})" if t == "{camera}" else
                          f"(?P<{t[1]}>{_FIELD_PATTERNS[t[1]]})" if t.startswith("%") else re.escape(t)
                          for t in self.tokens)
        self._key = re.compile(pattern + r"\.(?P<ext>[A-Za-z0-9]{1,5})")

    @classmethod
    def from_setting(cls, layout: str, time_zone: str = "UTC") -> "ClipLayout":
        """`roz`, `frigate`, or a template (ROZ_CLIP_LAYOUT)."""
        template = NAMED_LAYOUTS.get(layout, layout)
        return cls(template, time_zone, LONGEST_CLIP.get(layout, DEFAULT_LONGEST_CLIP), name=layout)

    @property
    def camera_first(self) -> bool:
        """Whether keys start with the camera's folder (then every folder at the root is a camera)."""
        return self.tokens[0] == "{camera}" and len(self.tokens) > 1 and self.tokens[1].startswith("/")

    def key(self, camera: str, start: datetime, extension: str = "mp4") -> str:
        """The key a clip of `camera` recorded from `start` has under this layout (what a recorder would write)."""
        wall = start.astimezone(self.zone)
        return "".join(camera if t == "{camera}" else
                       (f"{wall.microsecond:06d}" if t == "%f" else wall.strftime(t)) if t.startswith("%") else t
                       for t in self.tokens) + f".{extension}"

    def describe(self) -> str:
        return f"{self.template}.<{'|'.join(CLIP_EXTENSIONS)}>" + (
            f" ({self.zone.key})" if self.zone.key != "UTC" else "")

    def parse(self, key: str) -> ClipName:
        """The camera name and UTC start a key says; LayoutError naming the key if it does not fit."""
        match = self._key.fullmatch(key)
        if not match:
            raise LayoutError(f"{key!r} is not {self.describe()}")
        if match["ext"].lower() not in CLIP_EXTENSIONS:
            raise LayoutError(f"{key!r}: .{match['ext']} is not a clip extension ({', '.join(CLIP_EXTENSIONS)})")
        fields = match.groupdict()
        try:
            wall = datetime(int(fields["Y"]), int(fields["m"]), int(fields["d"]), int(fields["H"]), int(fields["M"]),
                            int(fields.get("S") or 0), int((fields.get("f") or "0").ljust(6, "0")))
        except ValueError:
            raise LayoutError(f"{key!r}: not a valid date and time") from None
        local = wall.replace(tzinfo=self.zone)
        start = local.astimezone(timezone.utc)
        if start.astimezone(self.zone).replace(tzinfo=None) != wall:
            raise LayoutError(f"{key!r}: {wall:%Y-%m-%d %H:%M} does not exist in {self.zone.key} "
                              "(clocks moved forward)")
        return ClipName(match["camera"], start)

    def prefixes(self, camera_names: Iterable[str], start: datetime, end: datetime) -> list[str]:
        """Key prefixes that together hold every clip of these cameras starting in `start <= t < end`, one per
        camera per hour of the window; one per hour for several cameras when the camera comes after the hour in
        the key (Frigate's hour folders hold every camera)."""
        names = list(camera_names)
        shared = len(names) > 1 and self.tokens.index("{camera}") > self.tokens.index("%H")
        step = HOUR if self.zone.key == "UTC" else QUARTER_HOUR  # every UTC offset is a multiple of 15 minutes
        result = {}
        for moment in steps(start, end, step):
            wall = moment.astimezone(self.zone)
            for name in [None] if shared else names:
                result.setdefault(self._prefix(wall, name))
        return list(result)

    def _prefix(self, wall: datetime, camera: str | None) -> str:
        """The key's folder holding `wall`'s hour (up to the camera's folder when `camera` is None): the folder, so
        that stray files in it are seen too, unless the folders say no time (then the name up to its minute)."""
        prefix, folder, seen_time, folder_has_time = "", "", False, False
        for token in self.tokens:
            if token == "{camera}" and camera is None:
                return prefix
            if token.startswith("%") and token[1] in _FINER_THAN_HOUR:
                break
            prefix += camera if token == "{camera}" else wall.strftime(token) if token.startswith("%") else token
            seen_time = seen_time or token.startswith("%")
            if "/" in token:
                folder, folder_has_time = prefix[:prefix.rindex("/") + 1], seen_time
        return folder if folder_has_time else prefix

def clip_start_from_path(layout: ClipLayout, path) -> datetime:
    """The start a file's path says under `layout`, read from as many trailing path parts as the layout has."""
    parts = Path(path).resolve().parts
    depth = layout.template.count("/") + 1
    name = layout.parse("/".join(parts[-depth:]))
    return name.start
