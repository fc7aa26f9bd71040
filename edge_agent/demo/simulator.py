"""The demo home on a real broker: it announces its devices and answers their commands.

:class:`HomeModel` is what the devices do, without MQTT: a command topic and payload in, the
state messages the device would publish out, each ecosystem the way it does it (Home
Assistant: the state topics its config names, plain or JSON by schema; zigbee2mqtt: the
merged JSON state on ``zigbee2mqtt/<friendly_name>``; Tasmota: ``stat/<topic>/RESULT`` and
``stat/<topic>/POWER<n>``; Homie: the property topic). The behaviour is derived from the
entities the adapters make of the discovery messages (``Entity.native`` holds the topics), so
another home file works too, within these limits: Home Assistant command templates are not
run (the demo has none), Tasmota dimmers, colours and shutters and Home Assistant's
``power_command_topic`` are not simulated, and state changes are immediate.

:class:`HomeSimulator` puts a model on a broker with paho-mqtt: ``start()`` / ``stop()`` from
any thread, or ``python -m edge_agent.demo.simulator --host H --port P`` until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.demo.fixtures import Message, feed, load_messages, new_registry
from edge_agent.devices.adapter import MqttMessage, json_object

log = logging.getLogger("edge_agent.demo.simulator")  # not "__main__" when run with -m

Reaction = Callable[[str], list[MqttMessage]]
"""A device's answer to one command payload: the state messages it publishes."""

HA_VALUE_TOPICS: dict[str, str] = {
    "brightness_command_topic": "brightness_state_topic",
    "color_temp_command_topic": "color_temp_state_topic",
    "percentage_command_topic": "percentage_state_topic",
    "temperature_command_topic": "temperature_state_topic",
    "set_position_topic": "position_topic",
    "mode_command_topic": "mode_state_topic",
    "rgb_command_topic": "rgb_state_topic",
    "hs_command_topic": "hs_state_topic",
    "xy_command_topic": "xy_state_topic",
}
"""Home Assistant command topic key -> the state topic key the device reports the value on."""
HA_NUMERIC = frozenset(
    {
        "brightness_state_topic",
        "color_temp_state_topic",
        "percentage_state_topic",
        "temperature_state_topic",
        "position_topic",
    }
)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _state(topic: str, payload: str, *, retain: bool = True) -> MqttMessage:
    # Retained, unlike commands: a client that subscribes later still learns the state.
    return MqttMessage(topic, payload, qos=1, retain=retain)


class HomeModel:
    """The devices of a home file and their current state. Not thread-safe: one thread
    (the simulator's worker) drives it."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self._messages = list(messages)
        self._retained: dict[str, str] = {
            topic: payload.decode("utf-8", errors="replace")
            for topic, payload, retain in self._messages
            if retain
        }
        registry = new_registry()
        feed(registry, self._messages)
        self.entities = registry.entities()
        builders: dict[str, Callable[[dict[str, Any]], dict[str, Reaction]]] = {
            "homeassistant": self._home_assistant,
            "zigbee2mqtt": self._zigbee2mqtt,
            "tasmota": self._tasmota,
            "homie": self._homie,
        }
        self._reactions: dict[str, Reaction] = {}
        for entity in self.entities:
            build = builders.get(entity.ecosystem)
            if build is not None and entity.actions:
                for topic, reaction in build(entity.native).items():
                    # Entities of one zigbee2mqtt device share its /set topic: one answer.
                    self._reactions.setdefault(topic, reaction)

    def command_topics(self) -> list[str]:
        return sorted(self._reactions)

    def state(self, topic: str) -> str | None:
        """The current retained payload of ``topic``."""
        return self._retained.get(topic)

    def announcements(self) -> list[MqttMessage]:
        """Every message of the home file, retained ones at their current value, then states
        that commands created: what the devices publish when they (re)connect."""
        out = [
            MqttMessage(topic, self._retained.get(topic, ""), retain=True)
            if retain
            else MqttMessage(topic, payload.decode("utf-8", errors="replace"))
            for topic, payload, retain in self._messages
        ]
        listed = {topic for topic, _, _ in self._messages}
        out += [_state(t, p) for t, p in self._retained.items() if t not in listed]
        return out

    def handle(self, topic: str, payload: bytes) -> list[MqttMessage]:
        """The state messages that answer a command; none for a topic or payload no device
        here takes (a real device ignores those too)."""
        reaction = self._reactions.get(topic)
        if reaction is None:
            return []
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            log.warning("ignoring %s: the payload is not UTF-8", topic)
            return []
        answer = reaction(text)
        if not answer:
            log.info("%s %r: no state to report", topic, text[:60])
        for message in answer:
            if message.retain:
                self._retained[message.topic] = message.payload
        return answer

    def _json_state(self, topic: str) -> dict[str, Any]:
        return json_object(self._retained.get(topic, "")) or {}

    # -- Home Assistant --------------------------------------------------------------

    def _home_assistant(self, native: dict[str, Any]) -> dict[str, Reaction]:
        command_topic, state_topic = native.get("command_topic"), native.get("state_topic")
        reactions: dict[str, Reaction] = {}
        if native["component"] == "light" and native.get("schema") == "json":
            if command_topic and state_topic:
                reactions[command_topic] = partial(self._ha_json_light, state_topic)
            return reactions
        for command_key, state_key in HA_VALUE_TOPICS.items():
            if native.get(command_key) and native.get(state_key):
                reactions[native[command_key]] = partial(self._ha_value, native, state_key)
        if command_topic:
            # Scenes and buttons have nothing to report; they are still listened to, so that
            # the log shows them activated.
            words = _ha_state_words(native) if state_topic else {}
            reactions[command_topic] = partial(self._ha_command, native, words)
        return reactions

    def _ha_json_light(self, state_topic: str, text: str) -> list[MqttMessage]:
        body = json_object(text)
        if body is None or body.get("state", "ON") not in ("ON", "OFF"):
            return []
        state = self._json_state(state_topic) | body  # OFF keeps the brightness, as lights do
        return [_state(state_topic, json.dumps(state))]

    def _ha_command(
        self, native: dict[str, Any], words: dict[str, str], text: str
    ) -> list[MqttMessage]:
        word = words.get(text)
        if word is None:
            return []  # STOP, or a scene: the state stays as it is
        answer = [_state(native["state_topic"], word)]
        if native["component"] == "cover" and native.get("position_topic"):
            opened = word == str(native["state_open"])
            position = native["position_open" if opened else "position_closed"]
            answer.append(_state(native["position_topic"], str(position)))
        return answer

    def _ha_value(self, native: dict[str, Any], state_key: str, text: str) -> list[MqttMessage]:
        number = _number(text)
        if state_key in HA_NUMERIC and number is None:
            return []
        if state_key == "mode_state_topic" and text not in [str(m) for m in native["modes"]]:
            return []
        answer = [_state(native[state_key], text)]
        component, state_topic = native["component"], native.get("state_topic")
        if state_topic and component in ("light", "fan") and state_key != "mode_state_topic":
            # A light given a brightness (a fan a speed) comes on; speed 0 stops a fan.
            on = number != 0 or component == "light"
            key = "on" if on else "off"
            answer.append(
                _state(state_topic, str(native.get(f"state_{key}", native[f"payload_{key}"])))
            )
        elif state_topic and component == "cover" and number is not None:
            closed = number == native["position_closed"]
            answer.append(
                _state(state_topic, str(native["state_closed" if closed else "state_open"]))
            )
        return answer

    # -- zigbee2mqtt -----------------------------------------------------------------

    def _zigbee2mqtt(self, native: dict[str, Any]) -> dict[str, Reaction]:
        return {native["set_topic"]: partial(self._z2m_set, native["state_topic"])}

    def _z2m_set(self, state_topic: str, text: str) -> list[MqttMessage]:
        body = json_object(text)
        if body is None:
            return []
        state = self._json_state(state_topic)
        for key, value in body.items():
            flipped = "OFF" if state.get(key) == "ON" else "ON"
            state[key] = flipped if value == "TOGGLE" else value
        brightness = body.get("brightness")
        if "state" in state and "state" not in body and isinstance(brightness, int | float):
            state["state"] = "ON" if brightness > 0 else state["state"]
        # zigbee2mqtt publishes the device's whole state, not just what changed.
        return [_state(state_topic, json.dumps(state))]

    # -- Tasmota ---------------------------------------------------------------------

    def _tasmota(self, native: dict[str, Any]) -> dict[str, Reaction]:
        if native.get("kind") not in ("relay", "light"):
            return {}
        topic = f"{native['command_topic']}POWER{native['relay']}"
        return {topic: partial(self._tasmota_power, native)}

    def _tasmota_power(self, native: dict[str, Any], text: str) -> list[MqttMessage]:
        key = f"POWER{native['relay']}"
        telemetry = self._json_state(native["state_topic"])
        on_word, off_word = str(native["power_on"]), str(native["power_off"])
        word = text.upper()
        was_on = telemetry.get(key) == on_word
        if word == "":
            on = was_on  # an empty POWER asks for the state
        elif word in ("1", "ON", on_word.upper()):
            on = True
        elif word in ("0", "OFF", off_word.upper()):
            on = False
        elif word in ("2", "TOGGLE", str(native["power_toggle"]).upper()):
            on = not was_on
        else:
            return []
        value = on_word if on else off_word
        telemetry[key] = value
        return [
            _state(native["result_topic"], json.dumps({key: value}), retain=False),
            _state(f"{native['stat_topic']}{key}", value, retain=False),
            # Tasmota sends tele/STATE every TelePeriod, not on change: sending it now,
            # retained, is what lets a late subscriber learn the power state.
            _state(native["state_topic"], json.dumps(telemetry)),
        ]

    # -- Homie -----------------------------------------------------------------------

    def _homie(self, native: dict[str, Any]) -> dict[str, Reaction]:
        reactions: dict[str, Reaction] = {}
        for topic, role in native.get("topics", {}).items():
            prop = native["roles"][role]
            if prop["settable"]:
                reactions[f"{topic}/set"] = partial(self._homie_set, topic, prop)
        return reactions

    def _homie_set(self, topic: str, prop: dict[str, Any], text: str) -> list[MqttMessage]:
        if not _homie_valid(prop, text):
            return []  # the convention: a device ignores a value it cannot take
        return [_state(topic, text, retain=bool(prop["retained"]))]


def _ha_state_words(native: dict[str, Any]) -> dict[str, str]:
    """Command payload -> the state payload a Home Assistant MQTT device reports."""

    def pair(command: str, state: str) -> tuple[str, str]:
        return str(native[command]), str(native.get(state, native[command]))

    component = native["component"]
    if component in ("light", "switch", "fan"):
        return dict([pair("payload_on", "state_on"), pair("payload_off", "state_off")])
    if component in ("cover", "valve"):
        return dict([pair("payload_open", "state_open"), pair("payload_close", "state_closed")])
    if component == "lock":
        words = dict(
            [pair("payload_lock", "state_locked"), pair("payload_unlock", "state_unlocked")]
        )
        if native.get("payload_open") is not None:
            words.update([pair("payload_open", "state_open")])
        return words
    return {}


def _homie_valid(prop: dict[str, Any], text: str) -> bool:
    datatype = prop["datatype"]
    if datatype == "boolean":
        return text in ("true", "false")
    if datatype == "enum":
        return text in prop["values"]
    if datatype in ("integer", "float"):
        number = _number(text)
        if number is None or (datatype == "integer" and not number.is_integer()):
            return False
        low, high = prop.get("min"), prop.get("max")
        return (low is None or number >= low) and (high is None or number <= high)
    return True


# -- MQTT ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Connected:
    subscription: int | None
    """The mid of the command subscription; None when there is nothing to subscribe to."""


@dataclass(frozen=True)
class _Subscribed:
    mid: int
    granted: bool


@dataclass(frozen=True)
class _Disconnected:
    pass


@dataclass(frozen=True)
class _Command:
    topic: str
    payload: bytes
    retained: bool


_Event = _Connected | _Subscribed | _Disconnected | _Command | None
"""What the paho callbacks hand the worker; None stops it."""


class HomeSimulator:
    """The demo home (or another home file) on an MQTT broker.

    ``start()`` connects, publishes every discovery and state message (retained), subscribes
    to every command topic and returns once the broker has all of it; ``stop()`` disconnects.
    Paho's callbacks only enqueue: one worker thread publishes and answers commands, in the
    order they arrived. After a reconnect the devices announce themselves again with their
    current state, since a restarted broker may have lost every retained message.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        messages: Sequence[Message] | None = None,
        client_id: str = "edge-agent-demo-home",
        keepalive: int = 30,
    ) -> None:
        self.host, self.port, self.client_id, self.keepalive = host, port, client_id, keepalive
        self.model = HomeModel(load_messages() if messages is None else messages)
        self._model_lock = threading.Lock()
        self._life_lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._worker: threading.Thread | None = None
        self._events: queue.Queue[_Event] = queue.Queue()
        self._ready = threading.Event()
        self._stopping = threading.Event()

    def __enter__(self) -> HomeSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def ready(self) -> bool:
        """Connected, announced and subscribed."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def state(self, topic: str) -> str | None:
        """The current retained payload the simulator holds for ``topic``."""
        with self._model_lock:
            return self.model.state(topic)

    def start(self, timeout: float | None = 10.0) -> None:
        """Connect and start answering. With a timeout, wait until ready and raise
        TimeoutError (stopped again) when that takes longer; None: return at once and keep
        trying to connect in the background."""
        with self._life_lock:
            if self._client is not None:
                raise RuntimeError("the simulator is already started")
            self._events = queue.Queue()
            self._stopping.clear()
            self._ready.clear()
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
            client.on_connect = self._on_connect
            client.on_subscribe = self._on_subscribe
            client.on_message = self._on_message
            client.on_disconnect = self._on_disconnect
            client.reconnect_delay_set(min_delay=1, max_delay=5)
            self._worker = threading.Thread(
                target=self._work, args=(client, self._events), name="demo-home", daemon=True
            )
            self._worker.start()
            client.connect_async(self.host, self.port, keepalive=self.keepalive)
            client.loop_start()
            self._client = client
        if timeout is not None and not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(
                f"the demo home was not ready on {self.host}:{self.port} within {timeout:g} s"
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect and end both threads; safe to call twice or before start."""
        with self._life_lock:
            client, worker, events = self._client, self._worker, self._events
            self._client = self._worker = None
        self._stopping.set()
        if client is not None:
            client.disconnect()
            client.loop_stop()
        if worker is not None:
            events.put(None)
            worker.join(timeout)
        self._ready.clear()

    # -- paho callbacks (network thread): enqueue only ----------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning("the broker refused the demo home: %s", reason_code)
            return
        topics = self.model.command_topics()  # fixed at construction: safe from this thread
        # Subscribing here (it only queues a packet) renews the subscription on a reconnect.
        mid = client.subscribe([(topic, 1) for topic in topics])[1] if topics else None
        self._events.put(_Connected(mid))

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._events.put(_Subscribed(mid, not any(code.is_failure for code in reason_codes)))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._events.put(_Command(message.topic, bytes(message.payload), message.retain))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._events.put(_Disconnected())

    # -- worker ------------------------------------------------------------------------

    def _work(self, client: mqtt.Client, events: queue.Queue[_Event]) -> None:
        subscription: int | None = None
        announced = subscribed = False
        while (event := events.get()) is not None:
            if isinstance(event, _Connected):
                subscription, subscribed = event.subscription, event.subscription is None
                announced = self._announce(client)
            elif isinstance(event, _Subscribed) and event.mid == subscription:
                subscribed = event.granted
                if not subscribed:
                    log.warning("the broker refused the demo home's command subscription")
            elif isinstance(event, _Disconnected):
                announced = subscribed = False
                self._ready.clear()
            elif isinstance(event, _Command):
                self._answer(client, event)
            if announced and subscribed and not self._ready.is_set():
                log.info(
                    "demo home ready on %s:%d: %d entities, %d command topics",
                    self.host,
                    self.port,
                    len(self.model.entities),
                    len(self.model.command_topics()),
                )
                self._ready.set()

    def _announce(self, client: mqtt.Client) -> bool:
        """Publish every discovery and state message; True once the broker has them all."""
        with self._model_lock:
            messages = self.model.announcements()
        infos = [client.publish(m.topic, m.payload, qos=1, retain=m.retain) for m in messages]
        deadline = time.monotonic() + 10.0
        try:
            for info in infos:
                # Short waits: stop() must not hang behind a broker that went away.
                while not info.is_published():
                    if self._stopping.is_set() or time.monotonic() > deadline:
                        return False
                    info.wait_for_publish(0.1)
        except (RuntimeError, ValueError) as error:
            log.warning("announcing the demo home failed: %s", error)
            return False
        return True

    def _answer(self, client: mqtt.Client, command: _Command) -> None:
        if command.retained:
            # Real devices obey a retained command on every reconnect: worth a loud warning.
            log.warning("%s: retained command (commands must not be retained)", command.topic)
        with self._model_lock:
            answer = self.model.handle(command.topic, command.payload)
        log.info(
            "%s %r -> %s",
            command.topic,
            command.payload[:60],
            ", ".join(f"{m.topic} {m.payload[:60]!r}" for m in answer) or "nothing",
        )
        for message in answer:
            client.publish(message.topic, message.payload, qos=1, retain=message.retain)


def run(
    host: str = "127.0.0.1",
    port: int = 1883,
    *,
    path: str | Path | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the demo home until Ctrl-C, SIGTERM or ``stop`` is set."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C sets the event like SIGTERM instead of raising KeyboardInterrupt wherever
        # the main thread happens to be (inside start(), or a lock in Event.wait), which
        # once left the process running after SIGINT.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stop.set())
    simulator = HomeSimulator(host, port, messages=load_messages(path))
    log.info("connecting the demo home to %s:%d", host, port)
    try:
        simulator.start(timeout=None)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_agent.demo.simulator",
        description="Publish the demo home on an MQTT broker and answer its devices' commands.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--devices", type=Path, help="a home file (default: the demo home)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run(args.host, args.port, path=args.devices)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
