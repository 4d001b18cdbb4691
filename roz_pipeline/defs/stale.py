"""`stale_cameras_sensor`: one alert per outage and a recovery notice (usecases.monitoring), to the log, the webhook
(ROZ_ALERT_WEBHOOK_URL) and MQTT (ROZ_MQTT_URL: a retained `roz/<camera>/stale` ON/OFF per camera, announced to Home
Assistant by MQTT discovery). With MQTT it also follows what Frigate says of each camera's recorder.

Undelivered alerts and MQTT messages wait in the sensor's cursor and go out on a later tick, in order: a webhook or a
broker that is down delays them, never loses them, and neither holds the other up.
"""

import json
import time
from datetime import datetime, timedelta, timezone

import psycopg
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from roz_pipeline import settings
from roz_pipeline.clips.stores import ClipStoreError
from roz_pipeline.core.timesteps import MINUTE
from roz_pipeline.lib.cameras import ServedCameras
from roz_pipeline.lib.keys import FRESHNESS_CHECK, minutes_key
from roz_pipeline.lib.resources import ClipStoreResource, HeatmapDatabase
from roz_pipeline.mqtt import frigate, home_assistant
from roz_pipeline.mqtt.broker import Broker, BrokerError
from roz_pipeline.registry import Camera
from roz_pipeline.storage.minutes import first_minute_after, newest_minutes, quiet_history
from roz_pipeline.usecases.monitoring import (
    QUIET_EVIDENCE,
    QUIET_HISTORY,
    Freshness,
    QuietHistory,
    RecorderReport,
    evaluate,
    one_alert,
    post_alert,
    transition,
)

# Check evaluations one tick records at most: a thousand cameras changing at once (or seen for the first time) are
# recorded over several ticks, each as cheap as any other; the alert names them all at once.
MAX_CHECK_EVALUATIONS_PER_TICK = 100
PASSING_STATES = ("fresh", "quiet")
# A late motion-only camera's longest quiet stretch is measured again at most this often (one index range scan of 7
# days of its minutes): hundreds of cameras quiet at night cost one scan each an hour, not one each a tick.
QUIET_REMEASURE = timedelta(hours=1)


def build_domain(served: ServedCameras) -> Definitions:
    return Definitions(sensors=[build_stale_cameras_sensor(served.by_id, served.clock)])


def build_stale_cameras_sensor(cameras: dict[str, Camera], clock=None, webhook_url=settings.alert_webhook_url,
                               mqtt_url=settings.mqtt_url):
    """The staleness sensor for these cameras; `clock`, `webhook_url` and `mqtt_url` are functions, replaceable in
    tests."""
    now = clock or (lambda: datetime.now(timezone.utc))

    @sensor(name="stale_cameras_sensor", minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
            description="Alerts once per outage when a camera stores no minute for stale_after_minutes (a "
                        "motion-only camera: when its recorder says offline, or it is quiet for longer than ever in "
                        "7 days), and on recovery; to the log, the webhook and MQTT")
    def stale_cameras_sensor(context: SensorEvaluationContext, database: HeatmapDatabase, clips: ClipStoreResource):
        state = {"cameras": {}, "outbox": [], "recorders": {}, "mqtt": {}, "announced": [], "quiet": {}, "unheard": [],
                 **(json.loads(context.cursor) if context.cursor else {})}
        current_time = now()
        broker = _broker(context, state, mqtt_url())
        recorders = _recorder_reports(context, broker, cameras, state, current_time)
        try:
            with database.connection() as conn:
                judged = _judge(context, conn, clips, cameras, recorders, state, current_time, now)
                texts, unchecked = _transitions(conn, judged, state, mqtt=broker is not None)
        except psycopg.errors.UndefinedTable:
            return SkipReason("heatmap_minutes does not exist yet: the first camera run migrates the database")
        alert = one_alert(texts)
        if alert:
            context.log.warning(alert)
            state["outbox"].append(alert)
        events = []
        for camera_id, freshness in list(unchecked.items())[:MAX_CHECK_EVALUATIONS_PER_TICK]:
            events.append(_freshness_evaluation(cameras[camera_id], freshness))
            state["cameras"][camera_id]["checked"] = freshness.state
        url = webhook_url()
        while state["outbox"] and post_alert(url, state["outbox"][0]):
            state["outbox"].pop(0)
        if broker is not None:
            _announce(state, cameras)
            _send(context, broker, state)
        return SensorResult(cursor=json.dumps(state), asset_events=events)

    return stale_cameras_sensor


def _judge(context, conn, clips, cameras: dict[str, Camera], recorders: dict[str, RecorderReport], state: dict,
           moment: datetime, clock) -> dict[str, Freshness]:
    """Every camera's freshness; the store is looked at only for cameras whose minutes are late (their clips may be
    landing while Roz is behind), a quiet stretch measured only for late motion-only cameras nobody speaks for."""
    newest = newest_minutes(conn, list(cameras))

    def judge(camera: Camera, newest_clip=None) -> Freshness:
        camera_id, last = camera.camera_id, newest.get(camera.camera_id)
        quiet = None
        if camera.motion_only and camera_id not in recorders and last is not None \
                and moment - last > timedelta(minutes=camera.stale_after_minutes):
            quiet = _quiet_history(conn, state["quiet"], camera_id, moment)
        return evaluate(camera_id, camera.stale_after_minutes, last, moment, newest_clip,
                        motion_only=camera.motion_only, recorder=recorders.get(camera_id), quiet=quiet)

    judged = {camera_id: judge(camera) for camera_id, camera in cameras.items()}
    late = [cameras[camera_id] for camera_id, freshness in judged.items()
            if freshness.state == "stale" and freshness.last_data is not None and freshness.recorder is None]
    for camera_id, newest_clip in _newest_clips(context, clips, conn, late, clock).items():
        judged[camera_id] = judge(cameras[camera_id], newest_clip)
    return judged


def _quiet_history(conn, measured: dict, camera_id: str, moment: datetime) -> QuietHistory:
    """The camera's quiet history of the last QUIET_HISTORY, measured at most every QUIET_REMEASURE (`measured`,
    kept in the cursor: camera -> [when, first minute or None, longest seconds or None])."""
    known = measured.get(camera_id)
    if known is None or len(known) != 3 or moment - datetime.fromisoformat(known[0]) >= QUIET_REMEASURE:
        first, longest = quiet_history(conn, camera_id, moment - QUIET_HISTORY, moment)
        known = measured[camera_id] = [moment.isoformat(), first and first.isoformat(),
                                       longest and longest.total_seconds()]
    return QuietHistory(known[1] and datetime.fromisoformat(known[1]),
                        None if known[2] is None else timedelta(seconds=known[2]))


def _transitions(conn, judged: dict[str, Freshness], state: dict, mqtt: bool):
    """Each camera's new state in `state` (and, with `mqtt`, its MQTT state when it changed): the alert texts, and
    the cameras whose `fresh` check has a new result."""
    texts, unchecked = [], {}
    for camera_id, freshness in judged.items():
        previous = state["cameras"].get(camera_id) or {}
        updated, text = transition(previous or None, freshness,
                                   lambda after, camera_id=camera_id: first_minute_after(conn, camera_id, after))
        texts += [text] if text else []
        # "checked": the state the camera's check last recorded
        state["cameras"][camera_id] = {**updated, "checked": previous.get("checked")}
        if updated["state"] != previous.get("checked"):
            unchecked[camera_id] = freshness
        if mqtt and (updated["state"] == "stale") != (previous.get("state") == "stale"):
            state["mqtt"][home_assistant.stale_topic(camera_id)] = _stale_payload(updated)
    return texts, unchecked


def _broker(context, state: dict, url: str | None) -> Broker | None:
    """The MQTT broker, followed for Frigate's topics; said once when it goes down and once when it is back."""
    if not url:
        return None
    broker = Broker.of(url, settings.mqtt_password())
    broker.follow(frigate.topics(settings.frigate_topic_prefix()))
    down = not broker.wait_connected(2.0)
    if down and not state.get("broker_down"):
        context.log.error(f"MQTT broker {broker.address} {broker.error}: recorders' status unknown, the alerts for "
                          "MQTT wait in this sensor's cursor (the webhook is not affected); retrying")
    elif not down and state.get("broker_down"):
        context.log.info(f"MQTT broker {broker.address} reachable again")
    state["broker_down"] = down
    return broker


def _recorder_reports(context, broker: Broker | None, cameras: dict[str, Camera], state: dict,
                      moment: datetime) -> dict[str, RecorderReport]:
    """What each camera's recorder says now, and since when (kept in `state`). A connection younger than
    frigate.STATUS_WAIT is listened to until every camera is heard (Frigate repeats each status every ~10 s; a code
    server replaced every minute opens a new connection each tick): a camera is judged on its recorder's word, not
    on a silence that only means Roz just started listening. One still unheard is judged without MQTT, said once."""
    if broker is None or not broker.connected:
        return {}
    names = {camera_id: camera.name_in_store for camera_id, camera in cameras.items()}

    def heard_now() -> dict[str, str]:
        return frigate.recorder_states(broker.latest(), settings.frigate_topic_prefix(), names,
                                       set(state["recorders"]), time.monotonic())

    heard = heard_now()
    while len(heard) < len(names) and broker.connected \
            and time.monotonic() < broker.listening_since + frigate.STATUS_WAIT:
        time.sleep(0.2)
        heard = heard_now()
    for camera_id, said in heard.items():
        known = state["recorders"].get(camera_id)
        if known is None or known["state"] != said:
            state["recorders"][camera_id] = {"state": said, "since": moment.isoformat(), "changed": known is not None}
    unheard = sorted(set(cameras) - set(heard))
    fallen_back = sorted(set(unheard) - set(state["unheard"]))
    if fallen_back:
        context.log.info(f"No recorder status heard over MQTT for {len(fallen_back)} camera(s) "
                         f"({', '.join(fallen_back[:10])}{', ...' if len(fallen_back) > 10 else ''}): judged by their "
                         "stored minutes until their recorder speaks")
    state["unheard"] = unheard
    return {camera_id: RecorderReport(said, datetime.fromisoformat(state["recorders"][camera_id]["since"]),
                                      state["recorders"][camera_id].get("changed", True))
            for camera_id, said in heard.items()}


def _announce(state: dict, cameras: dict[str, Camera]) -> None:
    """Queue Home Assistant's discovery message and the current state of every camera not announced yet."""
    announced, prefix = set(state["announced"]), settings.mqtt_discovery_prefix()
    for camera_id in cameras:
        if camera_id not in announced:
            topic, payload = home_assistant.discovery(camera_id, prefix)
            state["mqtt"][topic] = payload
            state["mqtt"][home_assistant.stale_topic(camera_id)] = _stale_payload(state["cameras"].get(camera_id))
            state["announced"].append(camera_id)


def _send(context, broker: Broker, state: dict) -> None:
    """Publish the queued messages (retained), oldest first; what cannot go now waits for the next tick."""
    for topic, payload in list(state["mqtt"].items()):
        try:
            broker.publish(topic, payload, retain=True)
        except BrokerError as exc:
            context.log.warning(f"{exc}; {len(state['mqtt'])} MQTT message(s) wait for the next tick")
            return
        del state["mqtt"][topic]


def _stale_payload(camera_state: dict | None) -> str:
    stale = camera_state is not None and camera_state.get("state") == "stale"
    return home_assistant.ON if stale else home_assistant.OFF


def _newest_clips(context, clips: ClipStoreResource, conn, cameras: list[Camera], clock) -> dict[str, datetime]:
    """For cameras whose minutes are late: the start of each one's newest clip within its grace, from a look at the
    store."""
    if not cameras:
        return {}
    now = clock()
    since = now - timedelta(minutes=max(camera.stale_after_minutes for camera in cameras))
    try:
        listing = clips.inventory(conn, cameras, clock=clock).clips_starting(
            [camera.camera_id for camera in cameras], since, now + MINUTE)
    except ClipStoreError as exc:  # then the minutes alone decide
        context.log.warning(f"cannot tell whether late cameras' clips still land: {exc}")
        return {}
    return {camera_id: found[-1].start for camera_id, found in listing.clips.items() if found}


def _freshness_evaluation(camera: Camera, freshness: Freshness) -> AssetCheckEvaluation:
    metadata = {"state": freshness.state, "stale_after_minutes": camera.stale_after_minutes,
                "recording": camera.recording}
    if freshness.last_data is not None:
        metadata["last_data"] = MetadataValue.timestamp(freshness.last_data)
        metadata["age_minutes"] = round(freshness.age.total_seconds() / 60, 1)
    if freshness.recorder is not None:
        metadata["recorder"] = f"{freshness.recorder.state} since {freshness.recorder.since:%Y-%m-%d %H:%M} UTC"
    if freshness.quiet_allowance is not None:
        metadata["longest_quiet_minutes"] = round(freshness.quiet_allowance.total_seconds() / 60, 1)
    if freshness.history is not None:
        metadata["quiet_not_judged"] = (f"{freshness.history.total_seconds() / 86400:.1f} days of stored history, "
                                        f"{QUIET_EVIDENCE.days} needed to judge a motion-only camera's quiet")
    return AssetCheckEvaluation(
        asset_key=minutes_key(camera.camera_id),
        check_name=FRESHNESS_CHECK,
        passed=freshness.state in PASSING_STATES,
        severity=AssetCheckSeverity.WARN if freshness.state == "never_seen" else AssetCheckSeverity.ERROR,
        metadata=metadata,
    )
