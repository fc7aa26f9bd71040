"""A real mosquitto broker for tests, and a paho test client.

Each broker runs on a free port of 127.0.0.1 with a generated config (anonymous, no
persistence), so tests can stop and restart it on the same port, and is killed at teardown.
mosquitto comes from the Debian packages; without it the tests that need it are skipped.

Use from a test module (assigned, not imported by name: a test argument named like an
imported fixture reads to ruff as a redefinition)::

    import mqtt_broker
    from mqtt_broker import Broker, MqttClient

    broker = mqtt_broker.broker
    mqtt_client = mqtt_broker.mqtt_client
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

HOST = "127.0.0.1"
INSTALL_HINT = "mosquitto is not installed: `sudo apt-get install mosquitto` (Debian package)"


def find_mosquitto() -> str | None:
    """The mosquitto binary; Debian puts it in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"):
        candidate = Path(folder) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One mosquitto process on ``host:port``; ``start``, ``stop`` and ``restart`` keep the
    port, so clients can reconnect to the same address."""

    def __init__(
        self, folder: Path, binary: str, port: int | None = None, *, persistent: bool = False
    ) -> None:
        self.folder, self.binary = folder, binary
        self.persistent = persistent
        """Keep sessions, subscriptions and queued messages across restarts, as a real
        broker does with ``persistence true``."""
        self.host = HOST
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.config_path = folder / "mosquitto.conf"
        self.log_path = folder / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 5.0) -> None:
        """Start and wait until the port accepts connections. A port picked here that
        someone took in the meantime is replaced once; a fixed or restarted one is not."""
        if self.running:
            return
        try:
            self._launch(timeout)
        except RuntimeError:
            if self._fixed_port:
                raise
            self.port = free_port()
            self._launch(timeout)
        self._fixed_port = True  # from now on restarts keep this port

    def _launch(self, timeout: float) -> None:
        self.config_path.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            + (
                f"persistence true\npersistence_location {self.folder}/\nuser root\n"
                if self.persistent
                else "persistence false\n"
            )
            + "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "connection_messages true\n"
        )
        with self.log_path.open("ab") as log:
            # mosquitto drops root privileges after reading its config: logging to the
            # inherited stdout keeps working where a log file in a private folder would not.
            process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._process = process
        deadline = time.monotonic() + timeout
        while not port_open(self.port, self.host):
            if process.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait until the port is free (retained messages are lost: no persistence)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5)

    def restart(self, timeout: float = 5.0) -> None:
        self.stop(timeout)
        self.start(timeout)


class Received(NamedTuple):
    topic: str
    payload: bytes
    retain: bool


class MqttClient:
    """A paho client for tests. Callbacks only record: every message lands in ``received``
    in arrival order, and the test thread waits on it."""

    def __init__(self, broker: Broker, client_id: str = "") -> None:
        self.broker = broker
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._changed = threading.Condition()
        self._received: list[Received] = []
        self._connected = False
        self._acked: set[int] = set()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._changed:
            self._connected = not reason_code.is_failure
            self._changed.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self._received.append(Received(message.topic, bytes(message.payload), message.retain))
            self._changed.notify_all()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._changed:
            self._acked.add(mid)
            self._changed.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"{what} within {timeout:g} s")

    def connect(self, timeout: float = 15.0) -> MqttClient:
        self._client.connect(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()
        self._wait(lambda: self._connected, timeout, "no CONNACK")
        return self

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def subscribe(self, *topics: str, timeout: float = 15.0) -> None:
        """Subscribe at QoS 1 and wait for the SUBACK (retained messages may still follow)."""
        result, mid = self._client.subscribe([(topic, 1) for topic in topics])
        assert result == mqtt.MQTT_ERR_SUCCESS, mqtt.error_string(result)
        self._wait(lambda: mid in self._acked, timeout, f"no SUBACK for {topics}")

    def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and wait until the broker has it (PUBACK at QoS 1)."""
        self._client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5.0)

    def publish_many(self, topic: str, payloads: list[bytes], *, qos: int = 1) -> None:
        """Publish in a pipeline (paho keeps its in-flight window) and wait for the last."""
        infos = [self._client.publish(topic, payload, qos=qos) for payload in payloads]
        for info in infos:
            info.wait_for_publish(30.0)

    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def next(self, index: int, timeout: float) -> Received | None:
        """Message number ``index`` (from 0), waiting up to ``timeout`` for it to arrive."""
        with self._changed:
            if self._changed.wait_for(lambda: len(self._received) > index, timeout):
                return self._received[index]
            return None

    def wait_for(
        self,
        topic: str,
        payload: bytes | Callable[[bytes], bool] | None = None,
        *,
        start: int = 0,
        timeout: float = 5.0,
    ) -> Received:
        """The first message from number ``start`` on ``topic`` whose payload equals (or
        satisfies) ``payload``."""

        def match(message: Received) -> bool:
            if message.topic != topic:
                return False
            if payload is None:
                return True
            return payload(message.payload) if callable(payload) else message.payload == payload

        def found() -> Received | None:
            return next((m for m in self._received[start:] if match(m)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, timeout):
                seen = [m for m in self._received[start:] if m.topic == topic]
                raise TimeoutError(f"nothing matching on {topic} in {timeout:g} s; saw {seen}")
            message = found()
            assert message is not None
            return message


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Make brokers (started unless ``start=False``); all are stopped at teardown."""
    binary = find_mosquitto()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    made: list[Broker] = []

    def make(*, start: bool = True, port: int | None = None, persistent: bool = False) -> Broker:
        folder = tmp_path / f"broker{len(made)}"
        folder.mkdir()
        broker = Broker(folder, binary, port, persistent=persistent)
        made.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    """A running mosquitto on a free port of 127.0.0.1."""
    return broker_factory()


@pytest.fixture
def mqtt_client(broker: Broker) -> Iterator[Callable[[str], MqttClient]]:
    """Connected test clients on ``broker`` by client id; all closed at teardown."""
    made: list[MqttClient] = []

    def make(client_id: str = "") -> MqttClient:
        client = MqttClient(broker, client_id).connect()
        made.append(client)
        return client

    yield make
    for client in made:
        with contextlib.suppress(Exception):
            client.close()
