"""Roz's alerts as Home Assistant sees them: a retained `roz/<camera>/stale` (ON while the camera is stale, OFF
otherwise) per camera, and MQTT discovery, so that each camera appears as a binary sensor (device class `problem`)
without configuration. Discovery messages are retained: Home Assistant finds them when it starts."""

import json

ON, OFF = "ON", "OFF"


def stale_topic(camera_id: str) -> str:
    return f"roz/{camera_id}/stale"


def discovery(camera_id: str, discovery_prefix: str) -> tuple[str, str]:
    """(topic, payload) of the camera's discovery message (camera ids are valid discovery ids: a-z 0-9 _ -)."""
    unique_id = f"roz_{camera_id}_stale"
    return f"{discovery_prefix}/binary_sensor/{unique_id}/config", json.dumps({
        "name": "Stale",
        "unique_id": unique_id,
        "state_topic": stale_topic(camera_id),
        "payload_on": ON,
        "payload_off": OFF,
        "device_class": "problem",
        "device": {"identifiers": [f"roz_{camera_id}"], "name": f"Camera {camera_id} (Roz)", "manufacturer": "Roz"},
        "origin": {"name": "Roz"},
    })
