"""A long-lived connection to the MQTT broker (ROZ_MQTT_URL): it follows the topics asked for, keeps the newest message
of each, and publishes. paho-mqtt's network thread reconnects by itself when the broker comes back (1 s, then up to
30 s apart), and subscribes again on every connect.

Frigate's camera status topics are not retained (they are repeated every ~10 s), so they cannot be read by a
connection opened at each sensor tick: one connection per process stays open and the sensor reads what it kept.
"""

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PUBLISH_TIMEOUT = 5.0  # seconds a publication may take to be acknowledged (QoS 1)


class BrokerError(Exception):
    """The broker cannot be reached or refused us; the message says which broker and why."""


@dataclass(frozen=True)
class Message:
    payload: str
    received_at: float  # time.monotonic() when it arrived


class Broker:
    """One connection per broker URL and process (`Broker.of`)."""

    _open: dict[str, "Broker"] = {}
    _lock = threading.Lock()

    @classmethod
    def of(cls, url: str, password: str | None = None) -> "Broker":
        with cls._lock:
            if url not in cls._open:
                cls._open[url] = cls(url, password)
            return cls._open[url]

    def __init__(self, url: str, password: str | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"ROZ_MQTT_URL must look like mqtt://user@host:1883 (mqtts:// for TLS), got {url!r}")
        self.address = f"{parts.scheme}://{parts.hostname}:{parts.port or (8883 if parts.scheme == 'mqtts' else 1883)}"
        self._topics: set[str] = set()
        self._latest: dict[str, Message] = {}
        self.connected = False
        self.error: str | None = "not connected yet"
        self.listening_since = time.monotonic()  # since the last connect (or creation): what was heard since then
        client = self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"roz-{id(self):x}")
        if parts.username:
            client.username_pw_set(parts.username, password)
        if parts.scheme == "mqtts":
            client.tls_set()
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_connect_fail, client.on_message = self._on_connect_fail, self._on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883), keepalive=30)
        client.loop_start()

    def follow(self, topics: list[str]) -> None:
        """Keep the newest message of each topic (MQTT wildcards allowed) from now on."""
        new = [topic for topic in topics if topic not in self._topics]
        self._topics.update(new)
        if new and self.connected:
            self._client.subscribe([(topic, 1) for topic in new])

    def latest(self) -> dict[str, Message]:
        """The newest message of every topic received so far."""
        return dict(self._latest)

    def publish(self, topic: str, payload: str, retain: bool = True) -> None:
        """Publish and wait for the broker's acknowledgement; BrokerError when it cannot be delivered now."""
        if not self.connected:
            raise BrokerError(f"MQTT broker {self.address}: {self.error}")
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT)
        except (RuntimeError, ValueError) as exc:
            raise BrokerError(f"MQTT broker {self.address}: {topic} not published ({exc})") from None
        if not info.is_published():
            raise BrokerError(f"MQTT broker {self.address}: {topic} not acknowledged within {PUBLISH_TIMEOUT:g} s")

    def wait_connected(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.connected

    def close(self) -> None:
        with Broker._lock:
            Broker._open = {url: broker for url, broker in Broker._open.items() if broker is not self}
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.connected, self.error = False, f"refused the connection ({reason_code})"
            return
        self.connected, self.error, self.listening_since = True, None, time.monotonic()
        if self._topics:
            client.subscribe([(topic, 1) for topic in sorted(self._topics)])

    def _on_connect_fail(self, client, userdata) -> None:
        self.connected, self.error = False, "cannot be reached"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected = False
        self.error = "connection lost" if reason_code.is_failure else "disconnected"

    def _on_message(self, client, userdata, message) -> None:
        self._latest[message.topic] = Message(message.payload.decode("utf-8", "replace"), time.monotonic())
