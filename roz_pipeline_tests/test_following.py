"""Following the hour in progress, without Dagster: which cameras a tick follows (and follows again when a run
ended early), and where a following run resumes. (The runs themselves, on a simulated clock: test_live.py.)"""

import dataclasses
from datetime import datetime, timedelta

import numpy as np

from roz_pipeline.clips.catalog import ClipCatalog, fingerprint
from roz_pipeline.clips.layout import ClipLayout
from roz_pipeline.clips.stores import ClipRef, LocalClipStore
from roz_pipeline.core.timesteps import HOUR, MINUTE
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import BuiltMinute, MinuteSources, StoredMinute
from roz_pipeline.usecases.live import (
    HEARTBEAT_GRACE,
    FollowingRun,
    FollowRequest,
    cameras_to_follow,
    cameras_to_follow_again,
    resume_point,
)
from roz_pipeline_tests.helpers import T0, clip_key

SECOND = timedelta(seconds=1)


def _touch(root, camera, minute):
    path = root / clip_key(camera, minute)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # the scan lists keys; it does not open clips


def _catalog(root, cameras=("lobby", "yard")):
    return ClipCatalog(LocalClipStore(root), ClipLayout.from_setting("roz"), [Camera(c) for c in cameras])


def test_the_live_cameras_are_followed_once_per_hour_in_runs_of_at_most_n_cameras(tmp_path):
    cameras = ("lobby", "yard", "gate", "dock", "roof")
    catalog = _catalog(tmp_path, cameras)
    hour, now = T0 + HOUR, T0 + HOUR + 30 * SECOND
    for camera in ("lobby", "yard", "gate"):
        _touch(tmp_path, camera, T0 + 59 * MINUTE)  # recording into the new hour
    _touch(tmp_path, "dock", T0 - HOUR)  # stopped two hours ago (longer than any clip of the layout)
    key = f"{hour:%Y-%m-%d-%H:%M}"

    def follow(following, moment=now):
        return cameras_to_follow(catalog, list(cameras), following, key, hour, moment, cameras_per_run=2)

    assert follow({}) == [FollowRequest(key, ("lobby", "yard")), FollowRequest(key, ("gate",))]
    assert follow({"lobby": key, "yard": key, "gate": key}) == []  # a redelivered tick
    assert follow({"lobby": "2026-11-20-14:00"}) == [FollowRequest(key, ("lobby", "yard")),
                                                     FollowRequest(key, ("gate",))]  # the next hour
    _touch(tmp_path, "roof", hour + 20 * MINUTE)  # starts recording in the hour: followed from then on
    assert follow({"lobby": key, "yard": key, "gate": key}, hour + 21 * MINUTE) == [FollowRequest(key, ("roof",))]


def _built(minute: datetime, clips: list[ClipRef]) -> BuiltMinute:
    row = StoredMinute("front", minute, np.zeros((2, 2), np.float32), 60, 0.0, 10, 4.0)
    sources = MinuteSources("front", minute, [clip.key for clip in clips], 60.0, {}, fingerprint(clips), minute)
    return BuiltMinute(row, sources, clips[0].video_path, 0)


def test_a_following_run_resumes_after_what_was_stored_from_unchanged_clips():
    frigate = ClipLayout.from_setting("frigate")
    clips = [ClipRef(frigate.key("Front", T0 + i * MINUTE), "front", T0 + i * MINUTE, "x", 100, "v1")
             for i in range(-1, 12)]  # one a minute, from the minute before the window
    stored = [_built(T0 + i * MINUTE, clips[i + 1:i + 2]) for i in range(8)]  # 00..07 written before
    assert resume_point([], clips, T0) == T0
    assert resume_point(stored, clips, T0) == T0 + 8 * MINUTE
    rewritten = [*clips[:4], dataclasses.replace(clips[4], version="v2"), *clips[5:]]  # minute 03's clip changed
    assert resume_point(stored, rewritten, T0) == T0 + 3 * MINUTE
    late = ClipRef(frigate.key("Front", T0 + 5 * MINUTE + 30 * SECOND), "front", T0 + 5 * MINUTE + 30 * SECOND,
                   "x", 100, "v1")  # landed since minute 05 was stored
    assert resume_point(stored, sorted([*clips, late], key=lambda c: c.start), T0) == T0 + 5 * MINUTE
    assert resume_point(stored, [clip for clip in clips if clip.start != T0 + 6 * MINUTE], T0) == T0 + 6 * MINUTE


def test_a_following_run_that_ended_early_is_replaced_at_most_twice():
    def run(run_id, cameras, state, minute):
        return FollowingRun(run_id, cameras, state, T0 + minute * MINUTE, None)

    ended = run("a", ("front", "back"), "ended", 0)
    assert cameras_to_follow_again([ended], "hour") == [FollowRequest("hour", ("front", "back"), replaces="a")]
    assert cameras_to_follow_again([run("a", ("front",), "done", 0)], "hour") == []
    assert cameras_to_follow_again([run("a", ("front",), "following", 0)], "hour") == []
    # "back" is followed again by a newer run already: only "front" needs one
    assert cameras_to_follow_again([ended, run("b", ("back",), "following", 5)], "hour") == [
        FollowRequest("hour", ("front",), replaces="a")]
    third = [run("a", ("front",), "ended", 0), run("b", ("front",), "ended", 5), run("c", ("front",), "ended", 9)]
    assert cameras_to_follow_again(third[:2], "hour") == [FollowRequest("hour", ("front",), replaces="b")]
    assert cameras_to_follow_again(third, "hour") == []  # FOLLOWS_PER_WINDOW runs: left to the catch-up
    silent = FollowingRun("d", ("front",), "following", T0, T0)
    assert not silent.silent(T0 + HEARTBEAT_GRACE) and silent.silent(T0 + HEARTBEAT_GRACE + SECOND)
