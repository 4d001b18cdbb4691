"""The explorer's test site: the lobby's four minutes with motion at known places, stored by a real run, a yard
that never recorded, and the explorer serving them over real HTTP."""

import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import uvicorn
from dagster import instance_for_test

from roz_pipeline.clips.access import Clips
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import LocalClipStore
from roz_pipeline.clips.synthetic import Walker, write_clip
from roz_pipeline.explore.app import Explorer, create_app
from roz_pipeline.registry import WatchedRegistry
from roz_pipeline_tests.helpers import KEEP, T0, clip_key, free_port, local_defs, registry_file, run_range

AT_THE_DOOR = Walker(start=(10, 80), end=(60, 80), size=(16, 40))  # x 10-76, y 80-120
AT_THE_GATE = Walker(start=(230, 80), end=(280, 80), size=(16, 40))
SCRIPT = [AT_THE_DOOR, AT_THE_DOOR, None, AT_THE_GATE]  # minute by minute from T0 (None: sensor noise only)
PERIOD = f"from={T0:%Y-%m-%dT%H:%M}&to={T0 + timedelta(minutes=10):%Y-%m-%dT%H:%M}"


def lobby_and_yard(tmp_path, database_url: str):
    """The lobby's four minutes stored by a real run (as `database_url`'s user), and a yard that never recorded."""
    registry = registry_file(tmp_path, {"lobby": f"{KEEP}, regions: {{door: [0, 60, 100, 140]}}", "yard": KEEP})
    videos = tmp_path / "videos"
    for minute, walker in enumerate(SCRIPT):
        path = videos / clip_key("lobby", T0 + timedelta(minutes=minute))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, width=320, height=180, frames=20, walkers=(walker,) if walker else (), seed=minute)
    with instance_for_test() as instance:
        assert run_range(local_defs(registry, videos, database_url, grain="minute"), "lobby", T0,
                         T0 + timedelta(minutes=len(SCRIPT) - 1), instance).success
    return registry, videos


@contextmanager
def serving(registry, videos, database_url: str, store=None, now=T0 + timedelta(minutes=30)):
    """The explorer on uvicorn at a free port (its clock at `now`, 14:30 on the lobby's day), on the folder `videos`
    or another `store`: (its base URL, the Explorer)."""
    clips = Clips(store or LocalClipStore(videos), ClipLayout.from_setting("roz"), 6, timedelta(days=7))
    explorer = Explorer(database_url, WatchedRegistry(registry), clips, clock=lambda: now)
    app = create_app(explorer)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}", explorer
    finally:
        server.should_exit = True
        thread.join(10)
