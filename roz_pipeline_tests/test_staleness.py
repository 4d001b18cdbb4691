"""Whether a camera is fresh, stale or Roz is behind on it, and what is said when that changes (the sensor and its
alerts: test_operations.py, test_motion_only.py)."""

from roz_pipeline.core.timesteps import MINUTE
from roz_pipeline.usecases.monitoring import evaluate, transition
from roz_pipeline_tests.helpers import T0


def test_a_camera_whose_clips_land_while_its_minutes_do_not_is_roz_behind_not_stale():
    now, last = T0 + 20 * MINUTE, T0 + 10 * MINUTE  # minutes stored up to 10, 9 minutes ago
    assert evaluate("front", 5, last, now).state == "stale"
    behind = evaluate("front", 5, last, now, newest_clip=now - MINUTE)
    assert behind.state == "behind"
    assert evaluate("front", 5, last, now, newest_clip=now - 6 * MINUTE).state == "stale"  # its clips stopped too
    state, text = transition({"state": "fresh"}, behind, lambda after: None)
    assert text.startswith("Roz is behind on camera front, not the camera: its clips land (newest")
    assert transition(state, behind, lambda after: None) == (state, None)  # said once
    _, caught_up = transition(state, evaluate("front", 5, now - MINUTE, now), lambda after: None)
    assert caught_up.startswith("Roz caught up with camera front")
    # a stale camera whose clips land again is back once its minutes are stored, not "Roz is behind"
    assert transition({"state": "stale", "since": last.isoformat()}, behind, lambda after: None)[1] is None
