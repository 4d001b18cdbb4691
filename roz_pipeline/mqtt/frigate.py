"""What Frigate (0.17+) says over MQTT about its cameras' recorders.

- `<prefix>/<camera>/status/record`: `online`, `offline` (the recording stream stopped and is being restarted) or
  `disabled`; repeated about every 10 s by Frigate's camera watchdog, not retained.
- `<prefix>/available`: `online` when Frigate connects; `offline` is its last will (the broker publishes it when
  Frigate vanishes), `stopped` when it stops normally (0.18); retained.
"""

from roz_pipeline.mqtt.broker import Message

STATES = ("online", "offline", "disabled")
STATUS_TIMEOUT = 60.0  # seconds: an older camera status is no news (Frigate repeats it every ~10 s)
STATUS_WAIT = 15.0  # seconds a new connection waits for every camera's status (each is repeated every ~10 s)


def topics(prefix: str) -> list[str]:
    return [f"{prefix}/available", f"{prefix}/+/status/record"]


def recorder_states(messages: dict[str, Message], prefix: str, names: dict[str, str], known: set[str],
                    now: float) -> dict[str, str]:
    """camera id -> what its recorder says now (`online`, `offline` or `disabled`), for the cameras Frigate spoke of
    within STATUS_TIMEOUT. `names`: camera id -> its name in Frigate; `known`: the cameras Frigate has reported on
    before, which are all offline while Frigate itself is; `now`: time.monotonic()."""
    available = messages.get(f"{prefix}/available")
    if available is not None and available.payload in ("offline", "stopped"):
        return {camera_id: "offline" for camera_id in names if camera_id in known}
    states = {}
    for camera_id, name in names.items():
        message = messages.get(f"{prefix}/{name}/status/record")
        if message is not None and now - message.received_at <= STATUS_TIMEOUT and message.payload in STATES:
            states[camera_id] = message.payload
    return states
