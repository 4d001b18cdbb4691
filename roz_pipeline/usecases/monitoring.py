"""Camera staleness as a small state machine, and alert delivery. No Dagster.

A camera is stale when its newest stored minute ended more than `stale_after_minutes` ago (the grace period) and
no clip of it started in that time either. When its clips keep landing but no minute is stored, Roz is behind, not
the camera (a following run died, the queue is full): said as such, once, and once more when Roz has caught up.

A camera whose recorder keeps only footage with motion (registry `recording: motion`) is quiet, not stale, when
nothing moves. Its recorder's own word decides where Frigate says it over MQTT: `offline` makes any camera stale
once it has been said for longer than the grace, or at once when the camera stored nothing in the grace either;
`online` and `disabled` keep a motion-only camera quiet. Without that word the weaker rule is: stale when no minute
is stored for longer than the camera's longest quiet stretch of the last 7 days (and at least the grace), judged
only once its stored history spans QUIET_EVIDENCE (a camera added yesterday has shown no quiet stretch yet).

Each outage alerts once, saying which rule decided; "back" only when footage resumed (or the recorder that said
offline says otherwise), with the outage's length. A camera judged stale that a new word shows quiet gets one
correction. A camera that has never stored a minute is reported once. The state is a plain dict, kept by the caller
(the sensor's cursor).
"""

import json
import logging
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from roz_pipeline.core.timesteps import MINUTE as ONE_MINUTE

log = logging.getLogger(__name__)
QUIET_HISTORY = timedelta(days=7)  # how far back a motion-only camera's longest quiet stretch is looked for
QUIET_EVIDENCE = timedelta(days=2)  # the stored history a motion-only camera needs before its quiet is judged


@dataclass(frozen=True)
class RecorderReport:
    """What the camera's recorder says over MQTT (`online`, `offline`, `disabled`), and since when: when it changed
    to that, or (`changed` False) when Roz first heard it say so."""

    state: str
    since: datetime
    changed: bool = True


@dataclass(frozen=True)
class QuietHistory:
    """A motion-only camera's stored minutes of the last QUIET_HISTORY: the first, and the longest time between two
    (None with fewer than two)."""

    first_minute: datetime | None
    longest: timedelta | None


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
    history: timedelta | None = None  # a motion-only camera's stored history, when too short to judge its quiet


def evaluate(camera_id: str, stale_after_minutes: int, last_data: datetime | None, now: datetime,
             newest_clip: datetime | None = None, *, motion_only: bool = False,
             recorder: RecorderReport | None = None, quiet: QuietHistory | None = None) -> Freshness:
    """Where the camera stands now, from the start of its newest stored minute and of its newest clip, how it records,
    what its recorder says (None: nothing heard) and, for a motion-only camera without that, its quiet history."""
    grace = timedelta(minutes=stale_after_minutes)
    age = None if last_data is None else now - (last_data + ONE_MINUTE)
    offline = recorder is not None and recorder.state == "offline"
    if offline and (now - recorder.since > grace or (age is not None and age > grace)):
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
        history = now - quiet.first_minute if quiet is not None and quiet.first_minute is not None else timedelta(0)
        if history < QUIET_EVIDENCE:
            return Freshness(camera_id, "quiet", last_data, age, history=history)
        allowance = max(grace, quiet.longest or timedelta(0))
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
        return settled, _ended(previous, freshness, first_minute_after)
    return settled, None


def _ended(previous: dict, freshness: Freshness, first_minute_after) -> str:
    """The notice of a stale camera's outage ending: back when its footage resumed or the recorder that said
    offline says otherwise; a correction when a new word shows it quiet while nothing resumed."""
    camera, since, recorder = freshness.camera_id, datetime.fromisoformat(previous["since"]), freshness.recorder
    if previous.get("by") == "recorder" and recorder is not None and recorder.state != "offline":
        outage = _minutes(recorder.since - since)
        return (f"Camera {camera} is back: its recorder reports it {recorder.state} since "
                f"{recorder.since:%Y-%m-%d %H:%M} UTC, after an outage of "
                f"{outage if previous.get('changed', True) else 'at least ' + outage}.")
    resumed = first_minute_after(since - ONE_MINUTE)
    if resumed is not None:
        return (f"Camera {camera} is back: footage resumed at {resumed:%Y-%m-%d %H:%M} UTC "
                f"after an outage of {_minutes(resumed - since)}.")
    return f"Camera {camera} is quiet, not stale: {_why_quiet(freshness)}."


def _why_quiet(freshness: Freshness) -> str:
    if freshness.recorder is not None:
        return (f"its recorder reports it {freshness.recorder.state} and it records only motion (no footage since "
                f"{freshness.last_data + ONE_MINUTE:%Y-%m-%d %H:%M} UTC)")
    return "it records only motion and nothing shows it stopped"


def _stale(freshness: Freshness) -> tuple[dict, str]:
    camera, recorder = freshness.camera_id, freshness.recorder
    if recorder is not None and recorder.state == "offline":
        heard = f"since {recorder.since:%Y-%m-%d %H:%M} UTC"
        if not recorder.changed:  # Roz first heard it offline: the footage says how long it may have been
            heard = f"({heard.replace('since', 'heard since')}" + (
                "" if freshness.last_data is None
                else f"; no footage since {freshness.last_data + ONE_MINUTE:%Y-%m-%d %H:%M} UTC") + ")"
        return ({"state": "stale", "since": recorder.since.isoformat(), "by": "recorder",
                 "changed": recorder.changed},
                f"Camera {camera} is stale: its recorder reports it offline {heard}.")
    silent_since = freshness.last_data + ONE_MINUTE
    text = (f"Camera {camera} is stale: no footage since {silent_since:%Y-%m-%d %H:%M} UTC "
            f"({_minutes(freshness.age)} ago)")
    if freshness.quiet_allowance is not None:
        text += (f", longer than its longest quiet stretch of the last {QUIET_HISTORY.days} days "
                 f"({_minutes(freshness.quiet_allowance)}; it records only motion and no recorder status is heard)")
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
    total = max(0, int(delta.total_seconds() // 60))  # footage resumed within the minute the outage began: 0
    hours, minutes = divmod(total, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
