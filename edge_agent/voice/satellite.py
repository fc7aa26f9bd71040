"""The voice satellite: a microphone (or a file) in front of an agent, over MQTT.

It learns the home from the same discovery topics as the agent (for its grammar), sends
what it heard to the agent's request topic like any MQTT client, speaks the reply, and
publishes what it heard and the timings on ``<base>/voice/heard``. In ``edge-agent run``
with ``[voice] enabled`` it runs beside the daemon; ``edge-agent satellite`` runs it alone
(a Pi Zero with a microphone talking to an agent on a bigger box).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import Config
from edge_agent.devices.model import Entity
from edge_agent.devices.registry import Registry
from edge_agent.messages import Response
from edge_agent.voice.recognizers import Recognizer, make_recognizer
from edge_agent.voice.session import Speaker, Turn, VoiceSession, VoiceSettings

log = logging.getLogger(__name__)


class _LockedRegistry:
    """The registry as the session sees it, read under the lock the MQTT thread writes
    under."""

    def __init__(self, registry: Registry, lock: threading.Lock) -> None:
        self._registry, self._lock = registry, lock

    @property
    def version(self) -> int:
        with self._lock:
            return self._registry.version

    def entities(self) -> list[Entity]:
        with self._lock:
            return list(self._registry.entities())


def _text(path: object) -> str | None:
    return None if path is None else str(path)


def listen_seconds(payload: bytes) -> float | None:
    """How long a trigger opens the window: its payload as a number of seconds (1-60), or
    the default for anything else (empty, "ON", a button's JSON)."""
    try:
        seconds = float(payload.decode("utf-8").strip())
    except ValueError:
        return None
    return min(max(seconds, 1.0), 60.0) if math.isfinite(seconds) else None


def voice_settings(config: Config) -> VoiceSettings:
    return VoiceSettings(
        wake=config.voice.wake or None,
        area=config.agent.area,
        push_to_talk=config.voice.push_to_talk,
    )


def recognizer_for(config: Config) -> Recognizer:
    v = config.voice
    return make_recognizer(v.recognizer, v.vosk_model, v.open_vocabulary)


class VoiceSatellite:
    def __init__(
        self,
        config: Config,
        registry: Registry,
        recognizer: Recognizer | None = None,
        client_id: str | None = None,
    ) -> None:
        self.config = config
        self.base = f"{config.base_topic}/{config.node_id}"
        self._lock = threading.Lock()
        self.registry = registry
        self._answers: dict[str, Response] = {}
        self._answered = threading.Condition()
        speaker = Speaker(config.voice.speak_command) if config.voice.speak else None
        self.session = VoiceSession(
            recognizer or recognizer_for(config),
            _LockedRegistry(registry, self._lock),
            self._ask,
            voice_settings(config),
            speaker,
        )
        m = config.mqtt
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"edge-agent-{config.node_id}-voice"
        )
        if m.username:
            self.client.username_pw_set(m.username, m.password())
        if m.tls.enabled:
            self.client.tls_set(
                ca_certs=_text(m.tls.ca_file),
                certfile=_text(m.tls.cert_file),
                keyfile=_text(m.tls.key_file),
            )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    # -- MQTT (paho's thread) -------------------------------------------------------------

    def start(self) -> None:
        m = self.config.mqtt
        self.client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("voice: broker refused the connection: %s", reason)
            return
        with self._lock:
            topics = set(self.registry.subscriptions())
        topics.update({f"{self.base}/response", f"{self.base}/voice/listen"})
        client.subscribe([(topic, 1) for topic in sorted(topics)])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == f"{self.base}/voice/listen":
            seconds = listen_seconds(bytes(message.payload))
            self.session.open_window(seconds)
            log.info("voice: listening for a request (trigger, %s s)", seconds or "default")
            return
        if message.topic == f"{self.base}/response":
            try:
                response = Response.model_validate_json(message.payload)
            except ValueError:
                return
            with self._answered:
                if response.id is not None:
                    self._answers[response.id] = response
                    self._answered.notify_all()
            return
        with self._lock:
            before = self.registry.subscriptions()
            self.registry.handle(message.topic, bytes(message.payload))
            added = set(self.registry.subscriptions()) - set(before)
        if added:
            client.subscribe([(topic, 1) for topic in sorted(added)])

    # -- the agent, over MQTT -------------------------------------------------------------

    def _ask(self, text: str, area: str | None) -> Response | None:
        request_id = f"voice-{uuid.uuid4().hex[:10]}"
        request = {
            "id": request_id,
            "text": text,
            "context": {"area": area, "source": f"voice:{self.config.node_id}"},
        }
        self.client.publish(f"{self.base}/request", json.dumps(request), qos=1)
        deadline = time.monotonic() + 30
        with self._answered:
            while request_id not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("voice: no answer to %r within 30 s", text)
                    return None
                self._answered.wait(left)
            return self._answers.pop(request_id)

    # -- the audio loop (the caller's thread) ---------------------------------------------

    def listen(
        self, frames: Iterable[np.ndarray | None], stop: threading.Event | None = None
    ) -> None:
        """Run the session over ``frames`` (None: no audio for a while) until they end
        or ``stop`` is set; every turn is published on ``<base>/voice/heard``."""
        for frame in frames:
            if stop is not None and stop.is_set():
                break
            if frame is None:
                continue
            self._publish(self.session.feed(frame))
        self._publish(self.session.flush())

    def _publish(self, turn: Turn | None) -> None:
        if turn is None or turn.outcome == "silence":
            return
        summary = turn.summary()
        if turn.response is not None:
            summary["reply"] = turn.response.text
        log.info("voice: heard %r -> %s", turn.heard.text, turn.outcome)
        self.client.publish(f"{self.base}/voice/heard", json.dumps(summary), qos=0)


def microphone_frames(
    device: str | int | None, stop: threading.Event, *, wait_when_full: bool = False
) -> Iterator[np.ndarray | None]:
    from edge_agent.voice.audio import Microphone

    with Microphone(device, wait_when_full=wait_when_full) as microphone:
        for frame in microphone.frames():
            if stop.is_set():
                return
            yield frame


def start_beside_daemon(config: Config) -> Callable[[], None]:
    """The satellite for ``edge-agent run`` with ``[voice] enabled``, in its own thread;
    returns the function that stops it. A missing sound card or recognizer is logged and
    leaves the daemon serving MQTT."""
    from edge_agent.service import build_registry

    stop = threading.Event()

    def run() -> None:
        try:
            node = VoiceSatellite(config, build_registry(config))
        except (ImportError, OSError, ValueError) as error:
            log.error("voice disabled: %s", error)
            return
        node.start()
        try:
            node.listen(microphone_frames(config.voice.device, stop), stop)
        except Exception as error:  # the sound card went away, PortAudio failed...
            log.error("voice stopped: %s", error)
        finally:
            node.stop()

    thread = threading.Thread(target=run, name="edge-agent-voice", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(3)

    return halt
