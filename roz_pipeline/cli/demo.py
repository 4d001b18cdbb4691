"""`roz demo`: the whole pipeline on a machine with nothing but Python.

Everything the demo writes is in a folder of its own, $ROZ_HOME/demo, apart from the user's data: footage for two
cameras x ten minutes, a registry, an embedded PostgreSQL (a server only when given explicitly with --database-url:
DATABASE_URL, from the environment or a copied .env, is never written to by the demo), a persistent Dagster instance
recording a real run per camera and its hourly and daily rollups, the pictures of the busiest minute and the whole
period, and the `.env` and `workspace.yaml` with which roz and Dagster started in that folder, with no Roz variable in
their environment, look at the demo (`./run ui --demo`, `./run explore --demo`).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from dagster import DagsterInstance, TimeWindow

from roz_pipeline import settings
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.core.render import render_overlay
from roz_pipeline.core.timesteps import MINUTE
from roz_pipeline.defs import build_definitions
from roz_pipeline.lib.keys import days_key, hours_key, minutes_key
from roz_pipeline.lib.launch import execute_ranges, ranges_in_window
from roz_pipeline.lib.resources import HeatmapDatabase, LocalClips
from roz_pipeline.registry import Camera
from roz_pipeline.storage.connection import mask_url
from roz_pipeline.storage.minutes import minutes_between
from roz_pipeline.usecases.insight import period_heatmap
from roz_pipeline.usecases.pictures import camera_still, render_summed

CAMERAS = ("lobby", "loading-dock")
MINUTES = 10
# A minute per clip, as a recorder writing whole minutes leaves them: every demo minute is fully covered.
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 60, 5, (640, 360)
# Cameras that keep only footage with motion, as Frigate's default retention does: the rest of the demo's hour is
# quiet, not missing, and the cameras are not stale when the demo's footage ends.
REGISTRY = """# Written by `roz demo`.
cameras:
  lobby:
    downscale_factor: 4
    recording: motion
  loading-dock:
    downscale_factor: 4
    retention_days: 30
    recording: motion
"""
INSTANCE_CONFIG = "telemetry:\n  enabled: false\n"
# The code location of the demo's Dagster UI. Its code server runs in the folder `dagster dev` was started in (a
# python_module's working_directory only extends sys.path), which reads the demo's .env and registry from there.
WORKSPACE = """# Written by `roz demo`: start `dagster dev -w workspace.yaml` in this folder (./run ui --demo).
load_from:
  - python_module:
      module_name: roz_pipeline.definitions
      location_name: roz_pipeline
"""
ROZ_LAYOUT = ClipLayout.from_setting("roz")  # the demo writes its footage as Roz's own layout names it


@dataclass
class CameraSummary:
    camera_id: str
    rows: int
    mean_bytes: float
    busiest_minute: datetime
    busiest_activity: float
    pictures: list[Path]
    first_minute: datetime  # of the demo's footage (the definitions' partitions start the day before)


def run_demo(home: Path, say=print, database_url: str | None = None) -> list[CameraSummary]:
    """Run the demo in its folder `home` ($ROZ_HOME/demo); returns what it wrote per camera."""
    home.mkdir(parents=True, exist_ok=True)
    videos, renders, dagster_home = home / "videos", home / "renders", home / "dagster"
    for folder in (videos, renders, dagster_home):
        folder.mkdir(exist_ok=True)
    first = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES + 5)
    minutes = [first + timedelta(minutes=i) for i in range(MINUTES)]

    say(f"1/5 Footage: {len(CAMERAS)} cameras x {MINUTES} minutes of {CLIP_SIZE[0]}x{CLIP_SIZE[1]} H.264 in {videos}")
    for camera_index, camera in enumerate(CAMERAS):
        for minute_index, minute in enumerate(minutes):
            _make_clip(videos, camera, minute, scene=camera_index, seed=100 * camera_index + minute_index)
        say(f"    {camera}: {MINUTES} clips")
    registry = home / "cameras.yaml"
    registry.write_text(REGISTRY)
    (dagster_home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    write_settings(home, partitions_start(minutes[0]), database_url)

    database = _migrated_database(home, say, database_url)
    say(f"3/5 Dagster: per camera, a ranged run of its minutes, then of their hours and days, in {dagster_home}")
    clips = LocalClips(root=str(videos))
    # Partitions from the day before the demo's (a day partition exists once its day has ended, and the daily
    # rollup needs one): the UI shows the demo's runs, not weeks of missing hours before them.
    defs = build_definitions(registry, {"database": database, "clips": clips},
                             partitions_start=partitions_start(minutes[0]))
    _run_each_camera(defs, DagsterInstance.from_config(str(dagster_home)), minutes, say)

    say(f"4/5 Pictures in {renders}")
    summaries = []
    with database.connection() as conn:
        for camera in CAMERAS:
            stored = minutes_between(conn, camera, minutes[0], minutes[-1] + timedelta(minutes=1))
            busiest = max(stored, key=lambda m: m.total_intensity)
            still, _ = camera_still(clips.catalog([Camera(camera)]), camera, busiest.timestamp)
            pictures = [renders / f"{camera}-busiest-minute.png", renders / f"{camera}-{MINUTES}-minutes.png"]
            pictures[0].write_bytes(render_overlay(busiest.heatmap, still))
            period = period_heatmap(conn, camera, minutes[0], minutes[-1] + timedelta(minutes=1))
            pictures[1].write_bytes(render_summed(period, still))
            mean_bytes = float(np.mean([m.compressed_bytes for m in stored]))
            summaries.append(CameraSummary(camera, len(stored), mean_bytes, busiest.timestamp,
                                           busiest.total_intensity, pictures, minutes[0]))
    return summaries


def write_settings(home: Path, first_day: str, database_url: str | None) -> None:
    """The demo folder's `.env` (what roz and Dagster read there when no Roz variable is set) and `workspace.yaml`."""
    lines = ["# Written by `roz demo`: the demo's settings, read by roz and dagster started in this folder",
             "ROZ_HOME=.", f"ROZ_PARTITIONS_START={first_day}", "ROZ_CLIP_LAYOUT=roz"]
    dotenv = home / ".env"
    dotenv.write_text("\n".join(lines + [f"DATABASE_URL={database_url}"] * bool(database_url)) + "\n")
    dotenv.chmod(0o600)  # a --database-url may hold a password
    (home / "workspace.yaml").write_text(WORKSPACE)


def _migrated_database(home: Path, say, database_url: str | None) -> HeatmapDatabase:
    """The demo's database (its own embedded PostgreSQL, else --database-url), migrated."""
    database = HeatmapDatabase(url=database_url or "", roz_home=str(home))
    ignored = " (DATABASE_URL is not used: the demo writes only to a database of its own; see --database-url)" \
        if settings.database_url() and not database_url else ""
    say("2/5 Database: " + (mask_url(database_url) if database_url else f"embedded PostgreSQL in {home / 'pgdata'}")
        + ignored)
    applied = database.migrate()
    say(f"    {mask_url(database.resolved_url())}: {len(applied)} migration(s) applied")
    return database


def _run_each_camera(defs, instance: DagsterInstance, minutes: list[datetime], say) -> None:
    """Per camera, the ranged runs of its minutes, then of their hours and days."""
    window = TimeWindow(minutes[0], minutes[-1] + MINUTE)
    for camera in CAMERAS:
        ranges = [camera_range for key in (minutes_key(camera), hours_key(camera), days_key(camera))
                  for camera_range in ranges_in_window(defs, key, camera, window)]
        for camera_range, result in execute_ranges(ranges, instance, in_process=defs):
            name = camera_range.asset_key.to_user_string()
            say(f"    {name}: run {result.run_id[:8]} {'succeeded' if result.success else 'FAILED'}")
            if not result.success:
                raise RuntimeError(f"the Dagster run of {name} failed: see it with ./run ui --demo")


def _make_clip(videos: Path, camera: str, minute: datetime, scene: int, seed: int) -> None:
    """A clip of `scene` (the camera's still background) with people drawn from `seed`."""
    path = videos / ROZ_LAYOUT.key(camera, minute)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames, (width, height) = CLIP_SECONDS * CLIP_FPS, CLIP_SIZE
    walkers = []
    for _ in range(rng.integers(1, 5)):  # people crossing the floor (lower two thirds), different busy minutes
        y0, y1 = rng.integers(height // 3, height - 70, size=2)
        left_to_right = rng.random() < 0.5
        start, end = ((-20, y0), (width, y1)) if left_to_right else ((width, y0), (-20, y1))
        first_frame = int(rng.integers(0, frames // 2))
        walkers.append(Walker(start=start, end=end, size=(int(rng.integers(18, 30)), int(rng.integers(50, 70))),
                              first_frame=first_frame, last_frame=first_frame + int(rng.integers(60, frames // 2)),
                              brightness=int(rng.integers(20, 60)) if rng.random() < 0.5 else 230))
    write_clip(path, width=width, height=height, fps=CLIP_FPS, frames=frames, walkers=tuple(walkers), seed=scene)


def partitions_start(moment: datetime) -> str:
    """The first partition day of the demo's definitions: the day before the footage's."""
    return f"{moment - timedelta(days=1):%Y-%m-%d}"


def main(say=print, database_url: str | None = None) -> int:
    # The demo's own lines only: a line per migration applied (INFO) is the migration runner's, for operators.
    logging.getLogger("roz_pipeline").setLevel(logging.WARNING)
    home = settings.roz_home() / "demo"
    summaries = run_demo(home, say, database_url)
    say("5/5 Summary")
    for s in summaries:
        say(f"    {s.camera_id}: {s.rows} rows, {s.mean_bytes / 1000:.1f} KB per row; busiest minute "
            f"{s.busiest_minute:%Y-%m-%d %H:%M} UTC (activity {s.busiest_activity:,.0f})")
        for picture in s.pictures:
            say(f"      {picture}")
    say(f"\nLook at it (Ctrl-C stops each; all the demo's data is in {home}: rm -rf it to remove the demo):")
    say("    ./run ui --demo        # the Dagster UI: http://127.0.0.1:3000, Assets > heatmap_minutes > lobby: "
        "its runs and checks")
    say("    ./run explore --demo   # the heatmaps: http://127.0.0.1:8080, click lobby, drag a rectangle")
    unset = "env " + "".join(f"-u {name} " for name in settings.roz_variables_set())
    say(f"    (installed without the repository: cd {home}, then {unset}DAGSTER_HOME={home / 'dagster'} dagster dev "
        f"-w workspace.yaml -h 127.0.0.1 -p 3000, or {unset}roz explore)")
    return 0
