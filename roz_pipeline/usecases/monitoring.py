"""Camera staleness as a small state machine, and alert delivery. No Dagster.

A camera is stale when its newest stored minute ended more than `stale_after_minutes` ago (the grace period) and
no clip of it started in that time either. When its clips keep landing but no minute is stored, Roz is behind, not
the camera (a following run died, the queue is full): said as such, once, and once more when Roz has caught up.

A camera whose recorder keeps only footage with motion (registry `recording: motion`) is quiet, not stale, when
nothing moves. Its recorder's own word decides where Frigate says it over MQTT: stale once the recorder has said
`offline` for longer than the grace (for any camera), never while it says `online` or `disabled`. Without that word
the weaker rule is: stale when no minute is stored for longer than the camera's longest quiet stretch of the last
7 days (and at least the grace).

Each outage alerts once; when data flows again (or the recorder is back online) a recovery notice gives the
outage's length. A camera that has never stored a minute is reported once. The state is a plain dict, kept by the
caller (the sensor's cursor).
"""

import json
import logging
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from roz_pipeline.core.timesteps import MINUTE as ONE_MINUTE

log = logging.getLogger(__name__)
QUIET_HISTORY = timedelta(days=7)  # how far back a motion-only camera's longest quiet stretch is looked for


@dataclass(frozen=True)
class RecorderReport:
    """What the camera's recorder says over MQTT (`online`, `offline`, `disabled`), and since when Roz hears it."""

    state: str
    since: datetime


@dataclass(frozen=True)
class Freshness:
    """One camera's evaluation at `now`."""

    camera_id: str
    state: str  # "fresh", "quiet" (nothing moved), "stale", "behind" (clips land, minutes are not stored), "never_seen"
    last_data: datetime | None
    age: timedelta | None  # since the end of the newest stored minute
    newest_clip: datetime | None = None  # start of the newest clip, when it is newer than the newest minute
    recorder: RecorderReport | None = None  # what the recorder said, when that decided
    quiet_allowance: timedelta | None = None  # a motion-only camera's longest quiet stretch, when that decided


def evaluate(camera_id: str, stale_after_minutes: int, last_data: datetime | None, now: datetime,
             newest_clip: datetime | None = None, *, motion_only: bool = False,
             recorder: RecorderReport | None = None, longest_quiet: timedelta | None = None) -> Freshness:
    """Where the camera stands now, from the start of its newest stored minute and of its newest clip, how it records,
    what its recorder says (None: nothing heard) and, for a motion-only camera without that, its longest quiet
    stretch of the last QUIET_HISTORY."""
    grace = timedelta(minutes=stale_after_minutes)
    age = None if last_data is None else now - (last_data + ONE_MINUTE)
    if recorder is not None and recorder.state == "offline" and now - recorder.since > grace:
        return Freshness(camera_id, "stale", last_data, age, recorder=recorder)
    if last_data is None:
        return Freshness(camera_id, "never_seen", None, None)
    if age <= grace:
        return Freshness(camera_id, "fresh", last_data, age, recorder=recorder)
    if newest_clip is not None and newest_clip > last_data and now - newest_clip <= grace:
        return Freshness(camera_id, "behind", last_data, age, newest_clip, recorder=recorder)
    if recorder is not None and (recorder.state == "disabled" or motion_only):
        return Freshness(camera_id, "quiet", last_data, age, recorder=recorder)
    if motion_only:
        allowance = max(grace, longest_quiet or timedelta(0))
        return Freshness(camera_id, "quiet" if age <= allowance else "stale", last_data, age,
                         quiet_allowance=allowance)
    return Freshness(camera_id, "stale", last_data, age)


def transition(previous: dict | None, freshness: Freshness, first_minute_after) -> tuple[dict, str | None]:
    """(the camera's new state, the alert text to send or None).

    `previous` is what the last call returned for the camera (None at first). `first_minute_after(t)` gives the
    first stored minute after `t`, to measure an outage that just ended.
    """
    previous = previous or {"state": None}
    camera = freshness.camera_id
    if freshness.state == "never_seen":
        text = None if previous["state"] == "never_seen" else f"Camera {camera} has not stored any minute yet."
        return {"state": "never_seen"}, text
    if freshness.state == "behind":
        if previous["state"] in ("behind", "stale"):  # a stale camera's clips land again: back once rows are stored
            return previous, None
        return {"state": "behind"}, (
            f"Roz is behind on camera {camera}, not the camera: its clips land (newest "
            f"{freshness.newest_clip:%Y-%m-%d %H:%M} UTC) but no minute is stored since "
            f"{freshness.last_data + ONE_MINUTE:%Y-%m-%d %H:%M} UTC ({_minutes(freshness.age)} ago).")
    if freshness.state == "stale":
        return (previous, None) if previous["state"] == "stale" else _stale(freshness)
    settled = {"state": freshness.state}  # fresh or quiet
    if previous["state"] == "behind":
        return settled, (f"Roz caught up with camera {camera}: minutes stored up to "
                         f"{freshness.last_data:%Y-%m-%d %H:%M} UTC.")
    if previous["state"] == "stale":
        since = datetime.fromisoformat(previous["since"])
        if previous.get("by") == "recorder":
            recorder = freshness.recorder
            back = recorder.since if recorder is not None and recorder.state != "offline" else freshness.last_data
            return settled, (f"Camera {camera} is back: its recorder reports it online since {back:%Y-%m-%d %H:%M} "
                             f"UTC, after an outage of {_minutes(back - since)}.")
        resumed = first_minute_after(since - ONE_MINUTE) or freshness.last_data
        return settled, (f"Camera {camera} is back: footage resumed at {resumed:%Y-%m-%d %H:%M} UTC "
                         f"after an outage of {_minutes(resumed - since)}.")
    return settled, None


def _stale(freshness: Freshness) -> tuple[dict, str]:
    camera, recorder = freshness.camera_id, freshness.recorder
    if recorder is not None and recorder.state == "offline":
        return ({"state": "stale", "since": recorder.since.isoformat(), "by": "recorder"},
                f"Camera {camera} is stale: its recorder reports it offline since {recorder.since:%Y-%m-%d %H:%M} "
                "UTC.")
    silent_since = freshness.last_data + ONE_MINUTE
    text = (f"Camera {camera} is stale: no footage since {silent_since:%Y-%m-%d %H:%M} UTC "
            f"({_minutes(freshness.age)} ago)")
    if freshness.quiet_allowance is not None:
        text += (f", longer than its longest quiet stretch of the last {QUIET_HISTORY.days} days "
                 f"({_minutes(freshness.quiet_allowance)}; it records only motion)")
    return {"state": "stale", "since": silent_since.isoformat()}, text + "."


def one_alert(texts: list[str]) -> str | None:
    """The alert of one look at every camera: its one change as is, several (a site's network went down) in one
    message listing them all, nothing without a change."""
    if len(texts) <= 1:
        return texts[0] if texts else None
    return f"{len(texts)} cameras changed state:\n" + "\n".join(f"- {text}" for text in texts)


def post_alert(webhook_url: str | None, text: str, timeout: float = 5.0) -> bool:
    """POST `{"text": text}` (Slack-compatible) to the webhook; True when delivered or when there is no webhook."""
    if not webhook_url:
        return True
    request = urllib.request.Request(webhook_url, data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError) as exc:
        log.warning("alert webhook not reachable (%s); the alert stays queued", exc)
        return False


def _minutes(delta: timedelta) -> str:
    total = int(delta.total_seconds() // 60)
    hours, minutes = divmod(total, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
