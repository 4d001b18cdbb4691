"""The camera registry, `cameras.yaml`: which cameras exist and their per-camera settings.

    cameras:
      lobby:                      # camera_id
        downscale_factor: 4       # optional, default 4
        retention_days: 90        # optional, default 90
        stale_after_minutes: 10   # optional, default 10
        ignore: [[0, 0, 640, 60]] # optional rectangles x0,y0,x1,y1 in source pixels
        rollup_retention_days: 730  # optional, default 730, at least retention_days: hourly and daily heatmaps
        source_name: Lobby_Cam    # optional: the camera's name in the clip store, when it is not the id
        regions:                  # optional named rectangles for region questions
          door: [100, 200, 400, 900]
        site: hq                  # optional: the camera's site (its assets' group in the UI)
        recording: continuous     # optional: continuous (default) or motion
        decode: full              # optional: full (default) or gated (GOPs in which nothing moved are skipped)
"""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from roz_pipeline.core.gate import DECODE_MODES
from roz_pipeline.core.motion import MotionSettings, Rectangle

log = logging.getLogger(__name__)
CAMERA_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")

SOURCE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a recorder's own camera name (Frigate allows capitals)
SITE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]{0,49}")  # a site names an asset group: Dagster allows no hyphen there
_GROUP_NAMES = {"cameras", "rollups", "regions", "sources", "database"}  # the groups of cameras without a site
_KNOWN_KEYS = {"downscale_factor", "retention_days", "stale_after_minutes", "ignore", "rollup_retention_days",
               "source_name", "regions", "site", "recording", "decode"}
# continuous: every minute is recorded, so a minute without clips is missing footage; motion: the recorder keeps only
# footage with motion (Frigate's `record: motion` retention), so a minute without clips is a quiet one.
RECORDING_MODES = ("continuous", "motion")


class RegistryError(ValueError):
    """The registry file is missing or an entry is invalid; the message names the file and the entry."""


def check_camera_id(camera_id: str) -> str:
    """`camera_id` if it is 1-50 characters of a-z 0-9 _ - starting with a letter or digit; else ValueError."""
    if not isinstance(camera_id, str) or not CAMERA_ID_PATTERN.fullmatch(camera_id):
        raise ValueError(
            f"invalid camera id {camera_id!r}: use 1-50 characters of a-z 0-9 _ -, starting with a letter or digit"
        )
    return camera_id


@dataclass(frozen=True)
class Camera:
    camera_id: str
    downscale_factor: float = MotionSettings.downscale_factor
    retention_days: int = 90
    stale_after_minutes: int = 10
    ignore: tuple[Rectangle, ...] = field(default_factory=tuple)
    rollup_retention_days: int = 730
    source_name: str | None = None  # the camera's name in the clip store; None: its id
    regions: dict[str, Rectangle] = field(default_factory=dict)
    site: str | None = None
    recording: str = "continuous"  # RECORDING_MODES
    decode: str = "full"  # core.gate.DECODE_MODES

    @property
    def motion_only(self) -> bool:
        """Whether the recorder keeps only footage with motion: a minute without clips is quiet, not missing."""
        return self.recording == "motion"

    @property
    def name_in_store(self) -> str:
        return self.source_name or self.camera_id

    @property
    def motion_settings(self) -> MotionSettings:
        return MotionSettings(downscale_factor=self.downscale_factor)


def load_registry(path: Path) -> dict[str, Camera]:
    """The cameras of `path` by id. Raises RegistryError naming the entry that is wrong."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the camera registry: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from None
    entries = document.get("cameras") if isinstance(document, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise RegistryError(f"{path}: expected a 'cameras:' mapping with at least one camera")
    cameras = {str(camera_id): _camera(path, camera_id, entry) for camera_id, entry in entries.items()}
    owners: dict[str, str] = {}
    for camera in cameras.values():
        other = owners.setdefault(camera.name_in_store, camera.camera_id)
        if other != camera.camera_id:
            raise RegistryError(f"{path}: cameras {other!r} and {camera.camera_id!r} both read the clip store's "
                                f"camera {camera.name_in_store!r}: give each its own source_name")
    return cameras


@dataclass(frozen=True)
class Shard:
    """What one code location serves of a registry: its cameras (`ROZ_SITES`' sites), and whether it is the one
    location holding the schema, retention and VACUUM (the one serving the site of the registry's first camera)."""

    cameras: dict[str, Camera]
    registry: dict[str, Camera]
    maintains: bool


def shard_of(registry: dict[str, Camera], sites: tuple[str, ...] | None) -> Shard:
    """The cameras of `sites` (None: every camera). Raises RegistryError for a site no camera has, or for cameras
    without a site when the registry is split (no location would serve them)."""
    if sites is None:
        return Shard(registry, registry, maintains=True)
    known = sorted({camera.site for camera in registry.values() if camera.site})
    unknown = [site for site in sites if site not in known]
    if unknown:
        raise RegistryError(f"ROZ_SITES names site(s) {', '.join(unknown)} that no camera of the registry has; "
                            f"its sites: {', '.join(known) or 'none'}")
    homeless = [camera_id for camera_id, camera in registry.items() if not camera.site]
    if homeless:
        raise RegistryError(f"ROZ_SITES splits the registry by site, but camera(s) {', '.join(homeless[:10])} have no "
                            "site: give every camera a site")
    cameras = {camera_id: camera for camera_id, camera in registry.items() if camera.site in sites}
    return Shard(cameras, registry, maintains=next(iter(registry.values())).site in sites)


def _camera(path: Path, camera_id, entry) -> Camera:
    where = f"{path}: camera {camera_id!r}"
    if isinstance(camera_id, (int, float)) and not isinstance(camera_id, bool):
        raise RegistryError(f"{where}: YAML read this camera id as a number; put it in quotes in the file to "
                            "keep it as written, e.g. '0042':")
    try:
        check_camera_id(camera_id)
    except ValueError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    entry = entry or {}
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: settings must be a mapping, got {entry!r}")
    unknown = set(entry) - _KNOWN_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
    downscale = _number(where, entry, "downscale_factor", Camera.downscale_factor, minimum=1)
    retention = int(_number(where, entry, "retention_days", Camera.retention_days, minimum=1, integer=True))
    stale = int(_number(where, entry, "stale_after_minutes", Camera.stale_after_minutes, minimum=1, integer=True))
    # Rollups outlive the minutes they sum: deleting raw minutes must never take their hours and days with them.
    rollup_retention = int(_number(where, entry, "rollup_retention_days", max(Camera.rollup_retention_days, retention),
                                   minimum=retention, integer=True))
    source_name = entry.get("source_name")
    if source_name is not None and (not isinstance(source_name, str) or not SOURCE_NAME_PATTERN.fullmatch(source_name)):
        raise RegistryError(f"{where}: source_name must be 1-64 characters of A-Z a-z 0-9 _ -, got {source_name!r}")
    regions = entry.get("regions") or {}
    if not isinstance(regions, dict):
        raise RegistryError(f"{where}: regions must map names to [x0, y0, x1, y1], got {regions!r}")
    site = entry.get("site")
    if site is not None and (not isinstance(site, str) or not SITE_PATTERN.fullmatch(site) or site in _GROUP_NAMES):
        raise RegistryError(f"{where}: site must be 1-50 characters of a-z 0-9 _, starting with a letter or digit, "
                            f"and none of {', '.join(sorted(_GROUP_NAMES))}; got {site!r}")
    recording = entry.get("recording", Camera.recording)
    if recording not in RECORDING_MODES:
        raise RegistryError(f"{where}: recording must be one of {', '.join(RECORDING_MODES)}, got {recording!r}")
    decode = entry.get("decode", Camera.decode)
    if decode not in DECODE_MODES:
        raise RegistryError(f"{where}: decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    return Camera(camera_id, downscale, retention, stale, _rectangles(where, entry.get("ignore") or [], "ignore"),
                  rollup_retention, source_name,
                  {str(name): _rectangles(where, [box], f"region {name!r}")[0] for name, box in regions.items()}, site,
                  recording, decode)


def _number(where: str, entry: dict, key: str, default, *, minimum, integer: bool = False):
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise RegistryError(f"{where}: {key} must be {'a whole number' if integer else 'a number'}, got {value!r}")
    if value < minimum:
        raise RegistryError(f"{where}: {key} must be at least {minimum}, got {value!r}")
    return value


def _rectangles(where: str, value, what: str) -> tuple[Rectangle, ...]:
    rectangles = []
    for rectangle in value if isinstance(value, list) else [value]:
        if (not isinstance(rectangle, list) or len(rectangle) != 4
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in rectangle)
                or rectangle[2] <= rectangle[0] or rectangle[3] <= rectangle[1]):
            raise RegistryError(
                f"{where}: {what} rectangles are [x0, y0, x1, y1] in source pixels with x0 < x1 and y0 < y1, "
                f"got {rectangle!r}"
            )
        rectangles.append(tuple(rectangle))
    return tuple(rectangles)


class WatchedRegistry:
    """The registry at `path` for a long-running reader (`roz explore`): read again when the file changes (its
    mtime or size), so a camera added meanwhile is served without a restart. A change that does not load keeps the
    cameras of the last one that did, and is logged once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cameras, self._read = load_registry(self.path), self._mark()

    def cameras(self) -> dict[str, Camera]:
        mark = self._mark()
        if mark != self._read:
            self._read = mark
            try:
                self._cameras = load_registry(self.path)
            except RegistryError as exc:
                log.warning("%s; the cameras it listed before are served", exc)
        return self._cameras

    def _mark(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size
