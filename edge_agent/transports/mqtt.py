"""The daemon's MQTT connection: paho-mqtt 2.x on its own network thread.

Callbacks only hand events to the asyncio loop (a blocking callback stalls paho's
network loop). paho reconnects by itself with capped exponential backoff; the jitter is
added here by drawing the next minimum delay at every disconnect, so a fleet of agents
does not hammer a restarted broker in step. Subscriptions are made again on every
connect, and the session is persistent (a fixed client id, ``clean_start`` off and a
session expiry on v5, ``clean_session`` off on 3.1.1) so that requests sent during a
short outage are delivered when the agent is back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

MAX_QUEUED = 1000
"""Outgoing QoS 1 messages paho may hold (a few MB at most)."""


@dataclass(frozen=True)
class LinkSettings:
    host: str = "localhost"
    port: int = 1883
    protocol: str = "5"
    client_id: str = "edge-agent"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    session_expiry_s: int = 3600
    will_topic: str | None = None


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None
    correlation: bytes | None = None


@dataclass(frozen=True)
class Connected:
    session_present: bool


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass
class _Subscriptions:
    topics: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MqttLink:
    def __init__(
        self,
        settings: LinkSettings,
        loop: asyncio.AbstractEventLoop,
        events: asyncio.Queue[Inbound | Connected | Disconnected],
    ) -> None:
        self.settings = settings
        self._loop = loop
        self._events = events
        self._subscriptions = _Subscriptions()
        self.connected = threading.Event()
        self.v5 = settings.protocol == "5"
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)  # fmt: skip
            client.tls_insecure_set(s.tls_insecure)
        if s.will_topic:
            client.will_set(s.will_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=max(1, round(s.reconnect_min_s)),
                                   max_delay=max(1, round(s.reconnect_max_s)))  # fmt: skip
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # A hard ceiling on what paho holds in memory; the daemon keeps well below it by
        # watching ``backlog`` (publish refuses while the broker is away, so nothing stale
        # piles up here during an outage).
        client.max_queued_messages_set(MAX_QUEUED)
        return client

    @property
    def backlog(self) -> int:
        """QoS 1 messages handed to paho and not yet acknowledged by the broker."""
        # The very count paho checks against max_queued_messages (paho-mqtt 2.x).
        return len(self.client._out_messages)

    # -- control (any thread) ----------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        properties = None
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = s.session_expiry_s
        self.client.connect_async(
            s.host, s.port, keepalive=s.keepalive_s,
            clean_start=False if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )  # fmt: skip
        self.client.loop_start()

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect; ``end_session`` also drops the broker's session (v5), so that a fleet
        member that leaves stops being handed its share of requests."""
        properties = None
        if end_session and self.v5:
            properties = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 0
        self.client.disconnect(properties=properties)
        self.client.loop_stop()

    def subscribe(self, topics: Iterable[str], qos: int = 1) -> None:
        """Subscribe now if connected, and again on every later connect."""
        new = []
        with self._subscriptions.lock:
            for topic in topics:
                if topic not in self._subscriptions.topics:
                    self._subscriptions.topics[topic] = qos
                    new.append(topic)
        if new and self.connected.is_set():
            self.client.subscribe([(t, qos) for t in new])

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: int | None = None,
        correlation: bytes | None = None,
    ) -> bool:
        """Publish; False if it could not be queued (not connected)."""
        properties = None
        if self.v5 and (expiry_s or correlation):
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if expiry_s:
                properties.MessageExpiryInterval = expiry_s
            if correlation:
                properties.CorrelationData = correlation
        if not self.connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # -- paho callbacks (network thread): hand over, never block ----------------------

    def _emit(self, event: Inbound | Connected | Disconnected) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
        properties: Properties | None,
    ) -> None:  # fmt: skip
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.connected.set()
        with self._subscriptions.lock:
            topics = list(self._subscriptions.topics.items())
        if topics:
            client.subscribe(topics)
        self._emit(Connected(bool(getattr(flags, "session_present", False))))

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
        properties: Properties | None,
    ) -> None:  # fmt: skip
        self.connected.clear()
        s = self.settings
        # Jitter: the next first retry lands anywhere in [min/2, 3*min/2].
        jittered = max(1, round(s.reconnect_min_s * random.uniform(0.5, 1.5)))
        ceiling = max(jittered, round(s.reconnect_max_s))
        client.reconnect_delay_set(min_delay=jittered, max_delay=ceiling)
        self._emit(Disconnected(str(reason)))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = getattr(message, "properties", None)
        self._emit(
            Inbound(
                message.topic,
                bytes(message.payload),
                bool(message.retain),
                getattr(props, "ResponseTopic", None),
                getattr(props, "CorrelationData", None),
            )
        )
