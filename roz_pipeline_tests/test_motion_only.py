"""Motion-only recorders: quiet is not stale. A real MQTT broker (Debian's mosquitto, started here), Frigate's status
messages as Frigate 0.17 publishes them, real sensor evaluations on a real PostgreSQL, Home Assistant's view read
back from the broker by a client of its own."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from dagster import materialize
from paho.mqtt.enums import CallbackAPIVersion

from roz_pipeline.core.timesteps import MINUTE, floor
from roz_pipeline.defs.stale import build_stale_cameras_sensor
from roz_pipeline.lib.keys import minutes_key
from roz_pipeline.lib.resources import LocalClips
from roz_pipeline.mqtt import frigate
from roz_pipeline.mqtt.broker import Broker
from roz_pipeline.registry import RegistryError, load_registry
from roz_pipeline.settings import REPO_ROOT
from roz_pipeline.storage.minutes import write_minute
from roz_pipeline.usecases.coverage import coverage
from roz_pipeline.usecases.monitoring import QUIET_EVIDENCE, QuietHistory, RecorderReport, evaluate, transition
from roz_pipeline_tests.helpers import (
    KEEP,
    Clock,
    asset_def,
    deploy_instance,
    free_port,
    local_defs,
    minute_row,
    registry_file,
    roz_resources,
    sensor_ticks,
    skip_or_fail,
)
from roz_pipeline_tests.recorders import cut, record

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
REGISTRY = ("cameras:\n"
            "  porch: {source_name: Porch, recording: motion, stale_after_minutes: 10}\n"
            "  drive: {source_name: Drive, stale_after_minutes: 10}\n")


class Mosquitto:
    """A mosquitto broker of the test's own on a free port; `stop()` and `start()` take it down and up again."""

    def __init__(self, folder: Path):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            skip_or_fail("mosquitto is needed for the MQTT tests (apt-get install mosquitto)")
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.binary, self.url, self.process = binary, f"mqtt://127.0.0.1:{self.port}", None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def broker(tmp_path, monkeypatch):
    """A broker of the test's own. Frigate speaks here when a test says so (`frigate_says`), not every 10 s: a new
    connection listens 1 s for the cameras it has not heard, not frigate.STATUS_WAIT."""
    monkeypatch.setattr(frigate, "STATUS_WAIT", 1.0)
    mosquitto = Mosquitto(tmp_path)
    yield mosquitto
    Broker.of(mosquitto.url).close()
    mosquitto.stop()


def client(url: str) -> mqtt.Client:
    port = int(url.rsplit(":", 1)[1])
    connected = mqtt.Client(CallbackAPIVersion.VERSION2)
    connected.connect("127.0.0.1", port)
    connected.loop_start()
    return connected


def frigate_says(url: str, camera: str, state: str) -> None:
    """What Frigate's camera watchdog publishes every ~10 s (not retained), and its retained availability; once Roz
    follows the broker, returns when Roz has heard it."""
    sent = time.monotonic()
    frigate = client(url)
    frigate.publish("frigate/available", "online", qos=1, retain=True).wait_for_publish(5)
    frigate.publish(f"frigate/{camera}/status/record", state, qos=1).wait_for_publish(5)
    frigate.disconnect()
    frigate.loop_stop()
    following = Broker._open.get(url)
    deadline = time.monotonic() + 10
    while following is not None and time.monotonic() < deadline:
        heard = following.latest().get(f"frigate/{camera}/status/record")
        if heard is not None and heard.payload == state and heard.received_at >= sent:
            return
        time.sleep(0.02)


class FrigateStatus:
    """Frigate's camera watchdog: each camera's recorder status every `every` seconds, not retained."""

    def __init__(self, url: str, says: dict[str, str], every: float = 10.0):
        self.url, self.says, self.every, self.stopping = url, says, every, threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)
        self.thread.start()

    def _publish(self) -> None:
        frigate = client(self.url)
        frigate.publish("frigate/available", "online", qos=1, retain=True)
        while not self.stopping.is_set():
            for name, state in self.says.items():
                frigate.publish(f"frigate/{name}/status/record", state, qos=1)
            self.stopping.wait(self.every)
        frigate.disconnect()
        frigate.loop_stop()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)


def retained(url: str, topics: list[str]) -> dict[str, str]:
    """The retained messages of `topics`, as a client connecting now (Home Assistant starting) gets them."""
    got = {}
    reader = mqtt.Client(CallbackAPIVersion.VERSION2)
    reader.on_message = lambda _client, _userdata, message: got.__setitem__(message.topic, message.payload.decode())
    reader.connect("127.0.0.1", int(url.rsplit(":", 1)[1]))
    reader.subscribe([(topic, 1) for topic in topics])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(got) < len(topics):
        reader.loop(0.1)
    reader.disconnect()
    return got


def ticks(tmp_path, database_url, webhook, mqtt_url, registry_text=REGISTRY, listening=True):
    """tick(minutes_later): one evaluation of the stale-cameras sensor at NOW + minutes_later, its cursor carried.
    `listening`: Roz follows the broker before the first tick (else the first tick opens the connection)."""
    registry = registry_file(tmp_path, registry_text)
    clock = Clock(NOW)
    resources = roz_resources(database_url, LocalClips(root=str(tmp_path), layout="frigate"))
    sensor = build_stale_cameras_sensor(load_registry(registry), clock=clock,
                                        webhook_url=lambda: webhook.url, mqtt_url=lambda: mqtt_url)
    if mqtt_url and listening:  # Roz already follows the broker: what Frigate says from now on is heard
        Broker.of(mqtt_url).follow(frigate.topics("frigate"))
        Broker.of(mqtt_url).wait_connected(10)
    return sensor_ticks(sensor, resources, clock, NOW)


def alerts(webhook) -> list[str]:
    return [alert["text"] for alert in webhook.received]


def test_a_quiet_motion_only_camera_whose_recorder_is_online_is_not_stale(tmp_path, db, migrated_database, webhook,
                                                                            broker):
    for camera in ("porch", "drive"):  # both recorded until NOW, then nothing for two hours
        write_minute(db, minute_row(camera, NOW - timedelta(minutes=1)))
    tick = ticks(tmp_path, migrated_database, webhook, broker.url)

    for minutes in range(0, 121, 15):
        frigate_says(broker.url, "Porch", "online")
        frigate_says(broker.url, "Drive", "online")
        tick(minutes)

    assert alerts(webhook) == [alerts(webhook)[0]] and alerts(webhook)[0].startswith("Camera drive is stale")
    state = json.loads(tick(121).cursor)
    assert state["cameras"]["porch"]["state"] == "quiet" and state["cameras"]["drive"]["state"] == "stale"
    registry = load_registry(tmp_path / "cameras.yaml")
    porch = coverage(db, registry["porch"], NOW, NOW + timedelta(hours=2))
    drive = coverage(db, registry["drive"], NOW, NOW + timedelta(hours=2))
    assert (porch.missing, len(porch.quiet), porch.complete) == ([], 120, True)  # quiet minutes, said as such
    assert (len(drive.missing), drive.quiet, drive.complete) == (120, [], False)


def test_the_recorder_saying_offline_alerts_once_after_the_grace_and_online_recovers_once(
        tmp_path, db, migrated_database, webhook, broker):
    write_minute(db, minute_row("porch", NOW - timedelta(minutes=1)))
    write_minute(db, minute_row("drive", NOW - timedelta(minutes=1)))
    tick = ticks(tmp_path, migrated_database, webhook, broker.url)

    def porch_says(state: str, minutes: int):
        write_minute(db, minute_row("drive", NOW + timedelta(minutes=minutes - 1)))  # the drive keeps recording
        frigate_says(broker.url, "Porch", state)
        tick(minutes)

    porch_says("online", 0)
    for minutes in (1, 5, 9):  # offline from NOW+1: within the 10-minute grace
        porch_says("offline", minutes)
    assert alerts(webhook) == []
    for minutes in (12, 20, 30):
        porch_says("offline", minutes)
    assert alerts(webhook) == [f"Camera porch is stale: its recorder reports it offline since "
                               f"{NOW + timedelta(minutes=1):%Y-%m-%d %H:%M} UTC."]
    for minutes in (31, 40):
        porch_says("online", minutes)
    assert alerts(webhook)[1:] == [f"Camera porch is back: its recorder reports it online since "
                                   f"{NOW + timedelta(minutes=31):%Y-%m-%d %H:%M} UTC, after an outage of 30 min."]


def test_without_its_recorders_word_a_motion_only_camera_is_stale_after_its_longest_quiet_stretch(
        tmp_path, db, migrated_database, webhook):
    # In the last three days the porch was quiet for at most 3 hours at a time (a minute with motion every 3 hours).
    for hours in range(3, 72, 3):
        write_minute(db, minute_row("porch", NOW - timedelta(hours=hours)))
    write_minute(db, minute_row("porch", NOW - timedelta(minutes=1)))
    write_minute(db, minute_row("drive", NOW - timedelta(minutes=1)))
    tick = ticks(tmp_path, migrated_database, webhook, None)  # no MQTT

    tick(0), tick(60), tick(170)
    assert [text for text in alerts(webhook) if "porch" in text] == []
    measured = json.loads(tick(185).cursor)["quiet"]["porch"]  # measured at 60, again at 170 (an hour on), not at 185
    assert measured[0] == (NOW + timedelta(minutes=170)).isoformat()
    (stale,) = [text for text in alerts(webhook) if "porch" in text]
    assert stale.startswith(f"Camera porch is stale: no footage since {NOW:%Y-%m-%d %H:%M} UTC")
    assert ("longer than its longest quiet stretch of the last 7 days (2 h 59 min; it records only motion and no "
            "recorder status is heard)") in stale


THREE = ("cameras:\n"
         "  drive: {source_name: Drive, recording: motion, stale_after_minutes: 10}\n"
         "  yard: {source_name: Yard, stale_after_minutes: 10}\n"
         "  gate: {source_name: Gate, recording: motion, stale_after_minutes: 1}\n")
SAYS = {"Drive": "online", "Yard": "online", "Gate": "offline"}  # drive stored one minute this week; all 2 h ago


def test_a_camera_is_judged_once_its_recorder_is_heard_and_a_restart_alerts_nothing_new(
        tmp_path, db, migrated_database, webhook, broker, monkeypatch):
    monkeypatch.setattr(frigate, "STATUS_WAIT", 15.0)
    for camera in ("drive", "yard", "gate"):
        write_minute(db, minute_row(camera, NOW - timedelta(hours=2)))
    tick = ticks(tmp_path, migrated_database, webhook, broker.url, THREE, listening=False)
    frigate_status = FrigateStatus(broker.url, SAYS, every=1.0)
    try:
        first = json.loads(tick(0).cursor)  # the connection opens in this tick: it listens until all are heard
        tick(1)
        Broker.of(broker.url).close()  # a deploy: the code server's connection is new, the cursor is kept
        after_restart = json.loads(tick(2).cursor)
        tick(3)
    finally:
        frigate_status.stop()

    (alert,) = alerts(webhook)
    assert alert.startswith("2 cameras changed state:") and "Camera yard is stale" in alert
    assert "Camera gate is stale: its recorder reports it offline (heard since" in alert and "drive" not in alert
    assert {camera: first["cameras"][camera]["state"] for camera in ("drive", "yard", "gate")} == {
        "drive": "quiet", "yard": "stale", "gate": "stale"}
    assert after_restart["cameras"] == first["cameras"]


def test_a_camera_its_recorder_never_speaks_of_is_judged_by_its_minutes_after_the_wait_said_once(
        tmp_path, db, migrated_database, webhook, broker, monkeypatch, capfd):
    write_minute(db, minute_row("yard", NOW - timedelta(hours=2)))
    tick = ticks(tmp_path, migrated_database, webhook, broker.url, "cameras:\n  yard: {source_name: Yard}\n",
                 listening=False)

    tick(0), tick(1), tick(2)  # the first listens for frigate.STATUS_WAIT (1 s here), then judges by the minutes

    assert alerts(webhook) == [f"Camera yard is stale: no footage since {NOW - timedelta(minutes=119):%Y-%m-%d %H:%M}"
                               " UTC (1 h 59 min ago)."]
    said = [line for line in capfd.readouterr().err.splitlines() if "No recorder status heard" in line]
    assert len(said) == 1 and "for 1 camera(s) (yard): judged by their stored minutes" in said[0]


def test_home_assistant_finds_each_camera_and_its_stale_state_on_the_broker(tmp_path, db, migrated_database, webhook,
                                                                             broker):
    write_minute(db, minute_row("drive", NOW - timedelta(minutes=1)))
    write_minute(db, minute_row("porch", NOW - timedelta(minutes=1)))
    tick = ticks(tmp_path, migrated_database, webhook, broker.url)
    tick(0)
    config_topics = [f"homeassistant/binary_sensor/roz_{camera}_stale/config" for camera in ("porch", "drive")]

    found = retained(broker.url, [*config_topics, "roz/porch/stale", "roz/drive/stale"])

    drive = json.loads(found["homeassistant/binary_sensor/roz_drive_stale/config"])
    assert drive["state_topic"] == "roz/drive/stale" and drive["device_class"] == "problem"
    assert (drive["payload_on"], drive["payload_off"], drive["unique_id"]) == ("ON", "OFF", "roz_drive_stale")
    assert found["roz/porch/stale"] == found["roz/drive/stale"] == "OFF"
    frigate_says(broker.url, "Drive", "online")
    tick(30)  # the drive records continuously and has stored nothing for 30 minutes
    assert retained(broker.url, ["roz/drive/stale"]) == {"roz/drive/stale": "ON"}
    write_minute(db, minute_row("drive", NOW + timedelta(minutes=31)))
    frigate_says(broker.url, "Drive", "online")
    tick(32)
    assert retained(broker.url, ["roz/drive/stale"]) == {"roz/drive/stale": "OFF"}


def test_a_broker_that_is_down_is_said_once_the_webhook_still_alerts_and_mqtt_catches_up(
        tmp_path, db, migrated_database, webhook, broker, capfd):
    write_minute(db, minute_row("drive", NOW - timedelta(minutes=1)))
    write_minute(db, minute_row("porch", NOW - timedelta(minutes=1)))
    tick = ticks(tmp_path, migrated_database, webhook, broker.url)
    tick(0)
    broker.stop()

    tick(30), tick(31)  # the drive goes stale while the broker is down

    assert "Camera drive is stale" in alerts(webhook)[-1]
    down = [line for line in capfd.readouterr().err.splitlines() if "recorders' status unknown" in line]
    assert len(down) == 1 and f"ERROR - MQTT broker mqtt://127.0.0.1:{broker.port} cannot be reached" in down[0]
    assert json.loads(tick(32).cursor)["mqtt"]["roz/drive/stale"] == "ON"  # waiting for the broker

    broker.start()
    assert Broker.of(broker.url).wait_connected(40)  # paho reconnects by itself
    tick(33)
    assert retained(broker.url, ["roz/drive/stale"]) == {"roz/drive/stale": "ON"}
    assert json.loads(tick(34).cursor)["mqtt"] == {}


@pytest.mark.parametrize("recording", ["motion", "continuous"])
def test_an_hour_with_one_minute_of_motion_is_quiet_for_a_motion_only_camera_and_missing_otherwise(
        tmp_path, migrated_database, roz, recording, instance):
    hour = datetime(2026, 11, 20, 14, tzinfo=timezone.utc)
    motion = record(tmp_path / "motion.mp4", 20)  # the recorder kept two 10 s segments with motion, at 14:10
    cut(motion, hour + timedelta(minutes=10), 10,
        lambda start: tmp_path / "recordings" / f"{start:%Y-%m-%d/%H}/Porch/{start:%M.%S}.mp4")
    registry = registry_file(tmp_path, {"porch": f"source_name: Porch, recording: {recording}, {KEEP}"})
    defs = local_defs(registry, tmp_path / "recordings", migrated_database, layout="frigate")

    result = materialize([asset_def(defs, minutes_key("porch"))], resources=defs.resources, instance=instance,
                         partition_key="2026-11-20-14:00")
    gaps = roz("gaps", "--camera", "porch", "--from", "2026-11-20T14:00", "--to", "2026-11-20T15:00",
               env={"DATABASE_URL": migrated_database, "ROZ_CAMERAS_FILE": str(registry),
                    "ROZ_VIDEO_ROOT": str(tmp_path / "recordings"), "ROZ_CLIP_LAYOUT": "frigate"})

    (metadata,) = [m.metadata for m in result.asset_materializations_for_node("heatmap_minutes__porch")]
    assert metadata["minutes_written"].value == 1
    if recording == "motion":
        assert metadata["minutes_quiet"].value == 59 and "minutes_missing" not in metadata
        assert gaps.returncode == 0 and "0 missing minute(s) in 0 gap(s)" in gaps.stdout
        assert "59 quiet minute(s): camera porch records only motion" in gaps.stdout
    else:
        assert metadata["minutes_missing"].value == 59 and len(metadata["missing_minutes"].value) == 59
        assert gaps.returncode == 1 and "59 missing minute(s) in 2 gap(s)" in gaps.stdout


def test_the_registry_says_how_a_camera_records_and_refuses_anything_else(tmp_path):
    registry = tmp_path / "cameras.yaml"
    registry.write_text("cameras:\n  porch: {recording: motion}\n  drive: {}\n")
    cameras = load_registry(registry)
    assert (cameras["porch"].motion_only, cameras["drive"].recording) == (True, "continuous")
    registry.write_text("cameras:\n  porch: {recording: events}\n")
    with pytest.raises(RegistryError,
                       match="camera 'porch': recording must be one of continuous, motion, got 'events'"):
        load_registry(registry)


def test_what_the_recorder_says_decides_before_the_minutes():
    late, minute = NOW - timedelta(minutes=30), timedelta(minutes=1)
    said = {state: RecorderReport(state, NOW - timedelta(minutes=11)) for state in ("online", "offline", "disabled")}
    just_offline = RecorderReport("offline", NOW - minute)
    assert evaluate("c", 10, NOW - minute, NOW, recorder=said["offline"]).state == "stale"  # offline past the grace
    assert evaluate("c", 10, NOW - minute, NOW, recorder=just_offline).state == "fresh"  # within it, footage flows
    assert evaluate("c", 10, late, NOW, recorder=just_offline).state == "stale"  # no footage in the grace either
    assert evaluate("c", 10, late, NOW, motion_only=True,
                    recorder=just_offline).state == "stale"  # offline: never quiet
    assert evaluate("c", 10, late, NOW, recorder=said["disabled"]).state == "quiet"  # switched off on purpose
    assert evaluate("c", 10, late, NOW, recorder=said["online"]).state == "stale"  # continuous: rows must flow
    assert evaluate("c", 10, late, NOW, motion_only=True, recorder=said["online"]).state == "quiet"


def test_without_its_recorders_word_a_motion_only_camera_is_judged_on_days_of_history_never_below_its_grace():
    two_hours_ago = NOW - timedelta(hours=2)

    def judged(first_minute, longest=None, last=two_hours_ago, grace=10):
        return evaluate("c", grace, last, NOW, motion_only=True, quiet=QuietHistory(first_minute, longest))

    added_today = judged(two_hours_ago)  # one stored minute: no quiet stretch shown yet, so none outlasted
    assert (added_today.state, added_today.history, added_today.quiet_allowance) == ("quiet", timedelta(hours=2),
                                                                                     None)
    assert judged(NOW - QUIET_EVIDENCE + minute_of(1)).state == "quiet"
    silent_for_days = judged(NOW - timedelta(days=3), last=NOW - timedelta(days=3))  # one minute, then nothing
    assert (silent_for_days.state, silent_for_days.quiet_allowance) == ("stale", timedelta(minutes=10))
    assert judged(NOW - timedelta(days=5), longest=timedelta(hours=3)).state == "quiet"
    assert judged(NOW - timedelta(days=5), longest=timedelta(hours=1)).state == "stale"
    never_below_grace = judged(NOW - timedelta(days=5), longest=timedelta(minutes=2), grace=100)
    assert (never_below_grace.state, never_below_grace.quiet_allowance) == ("stale", timedelta(minutes=100))


def minute_of(count: int) -> timedelta:
    return timedelta(minutes=count)


def _stale_then(previous_freshness, now_freshness, first_minute_after=lambda after: None):
    state, alert = transition(None, previous_freshness, first_minute_after)
    return alert, transition(state, now_freshness, first_minute_after)[1]


def test_back_only_when_footage_resumed_or_the_recorder_that_said_offline_speaks_again():
    last = NOW - timedelta(hours=2)
    stale = evaluate("drive", 10, last, NOW, motion_only=True, quiet=QuietHistory(NOW - timedelta(days=3), None))
    online = RecorderReport("online", NOW + minute_of(1), changed=False)
    quiet = evaluate("drive", 10, last, NOW + minute_of(1), motion_only=True, recorder=online)

    alert, after = _stale_then(stale, quiet)  # its recorder says online; nothing resumed: a correction, not "back"
    assert alert.startswith("Camera drive is stale: no footage since") and "no recorder status is heard" in alert
    assert after == ("Camera drive is quiet, not stale: its recorder reports it online and it records only motion "
                     f"(no footage since {last + minute_of(1):%Y-%m-%d %H:%M} UTC).")

    offline = RecorderReport("offline", NOW - timedelta(seconds=20), changed=False)
    gate = evaluate("gate", 1, last, NOW, motion_only=True, recorder=offline)
    state, alert = transition(None, gate, lambda after: None)
    assert alert == (f"Camera gate is stale: its recorder reports it offline (heard since "
                     f"{NOW - timedelta(seconds=20):%Y-%m-%d %H:%M} UTC; no footage since "
                     f"{last + minute_of(1):%Y-%m-%d %H:%M} UTC).")
    still_offline = evaluate("gate", 1, last, NOW + minute_of(5), motion_only=True, recorder=offline)
    assert still_offline.state == "stale" and transition(state, still_offline, lambda after: None)[1] is None
    # a minute stored late, inside the minute the recorder was first heard offline: back, never a negative outage
    resumed = floor(NOW - timedelta(seconds=20), MINUTE)
    fresh = evaluate("gate", 1, resumed, resumed + minute_of(1), motion_only=True)
    assert transition(state, fresh, lambda after: resumed)[1] == (
        f"Camera gate is back: footage resumed at {resumed:%Y-%m-%d %H:%M} UTC after an outage of 0 min.")


@contextmanager
def daemon_running(tmp_path, env: dict, name: str):
    """`dagster-daemon run` on the project's workspace (its own code server), its log in tmp_path/name; yields a
    function counting the stale sensor's ticks so far."""
    log_path = tmp_path / name
    with log_path.open("w") as log:
        daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield lambda: log_path.read_text().count("Checking for new runs for sensor: stale_cameras_sensor")
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)


def wait_for(ticks_so_far, count: int, log_path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while ticks_so_far() < count:
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(1)


@pytest.mark.slow
def test_the_real_daemon_alerts_once_for_the_stale_cameras_and_nothing_after_a_restart(
        tmp_path, db, migrated_database, webhook, broker):
    """The real daemon and code server, Frigate's status every 10 s on a real mosquitto; three cameras whose newest
    minute is 2 h old: the motion-only drive (its recorder online, one minute stored this week), the continuous
    yard (online) and the motion-only gate (its recorder offline, grace 1 minute). Two minutes of ticks, then a
    restart (a deploy) and two more."""
    for camera in ("drive", "yard", "gate"):
        write_minute(db, minute_row(camera, NOW - timedelta(hours=2)))
    registry, home = registry_file(tmp_path, THREE), tmp_path / "dagster"
    (tmp_path / "recordings").mkdir()
    deploy_instance(home, migrated_database)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DATABASE_URL": migrated_database,
           "ROZ_CAMERAS_FILE": str(registry), "ROZ_VIDEO_ROOT": str(tmp_path / "recordings"),
           "ROZ_CLIP_LAYOUT": "frigate", "ROZ_MQTT_URL": broker.url, "ROZ_ALERT_WEBHOOK_URL": webhook.url,
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    frigate_status = FrigateStatus(broker.url, SAYS)
    try:
        with daemon_running(tmp_path, env, "daemon.log") as ticked:
            wait_for(ticked, 3, tmp_path / "daemon.log")  # the first tick hears nothing yet; two minutes of ticks
            before_restart = [alert["text"] for alert in webhook.received]
        with daemon_running(tmp_path, env, "daemon-restarted.log") as ticked:
            wait_for(ticked, 3, tmp_path / "daemon-restarted.log")
    finally:
        frigate_status.stop()

    stale = [text for text in alerts(webhook) if "stale" in text or "back" in text]
    assert len(before_restart) == len(stale) == 1, alerts(webhook)
    assert "Camera yard is stale" in stale[0] and "Camera gate is stale" in stale[0] and "drive" not in stale[0]
