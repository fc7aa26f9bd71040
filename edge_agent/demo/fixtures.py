"""The demo home as MQTT messages, and a registry that has read them.

A home file is a JSON list of ``{"topic": str, "payload": <JSON value or string>, "retain":
bool}``: the retained discovery messages of each ecosystem followed by the devices' states,
in the order a broker would hand them to a new subscriber. A string payload is sent as it is,
any other JSON value as compact JSON (so discovery configs stay readable in the file).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from edge_agent.devices.homeassistant import HomeAssistantAdapter
from edge_agent.devices.homie import HomieAdapter
from edge_agent.devices.registry import Registry
from edge_agent.devices.tasmota import TasmotaAdapter
from edge_agent.devices.zigbee2mqtt import Zigbee2MqttAdapter

Message = tuple[str, bytes, bool]
"""(topic, payload, retain)."""

DEMO_FLOORS: dict[str, str] = {
    "Kitchen": "Downstairs",
    "Living Room": "Downstairs",
    "Hallway": "Downstairs",
    "Garage": "Downstairs",
    "Bedroom": "Upstairs",
    "Kids Room": "Upstairs",
    "Bathroom": "Upstairs",
    "Office": "Upstairs",
}
"""Floor of each demo area. No ecosystem here announces floors, so the demo says them."""


def load_messages(path: str | Path | None = None) -> list[Message]:
    """The messages of a home file; the packaged demo home when ``path`` is None.

    Raises ValueError (naming the entry) when the file is not a list of messages.
    """
    if path is None:
        text = resources.files("edge_agent.demo").joinpath("home.json").read_text(encoding="utf-8")
        where = "the demo home"
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{where} is not JSON: {error}") from error
    if not isinstance(entries, list):
        raise ValueError(f"{where} must hold a JSON list of messages")
    return [_message(entry, f"{where}, entry {index}") for index, entry in enumerate(entries)]


def _message(entry: Any, where: str) -> Message:
    if not isinstance(entry, dict) or set(entry) - {"topic", "payload", "retain"}:
        raise ValueError(f"{where}: expected an object with topic, payload and retain")
    topic, retain = entry.get("topic"), entry.get("retain", True)
    if not isinstance(topic, str) or not topic or "+" in topic or "#" in topic:
        raise ValueError(f"{where}: the topic must be a non-empty topic name without wildcards")
    if not isinstance(retain, bool):
        raise ValueError(f"{where}: retain must be true or false")
    payload = entry.get("payload")
    if isinstance(payload, str):
        raw = payload.encode("utf-8")
    elif payload is None:
        raw = b""  # an empty retained payload is how every ecosystem here removes a device
    else:
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return topic, raw, retain


def new_registry() -> Registry:
    """An empty registry with every ecosystem adapter the demo home uses."""
    return Registry(
        [HomeAssistantAdapter(), Zigbee2MqttAdapter(), TasmotaAdapter(), HomieAdapter()]
    )


def feed(registry: Registry, messages: Iterable[Message], now: datetime | None = None) -> None:
    """Feed ``messages`` in two passes, discovery first: the registry ignores a state whose
    entity it does not know yet, and a file need not list discovery before states."""
    messages = list(messages)
    adapters = list(registry.adapters.values())

    def is_discovery(topic: str) -> bool:
        return any(adapter.is_discovery(topic) for adapter in adapters)

    for topic, payload, _ in messages:
        if is_discovery(topic):
            registry.handle(topic, payload, now)
    for topic, payload, _ in messages:
        if not is_discovery(topic):
            registry.handle(topic, payload, now)


def demo_registry(
    path: str | Path | None = None,
    *,
    floors: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Registry:
    """A registry fed with every message of a home file (default: the demo home).

    ``floors`` maps areas to floors for entities whose source gave none; it defaults to
    :data:`DEMO_FLOORS` for the demo home and to nothing for another file.
    """
    registry = new_registry()
    feed(registry, load_messages(path), now)
    floors = (DEMO_FLOORS if path is None else {}) if floors is None else floors
    for entity in registry.entities():
        if entity.floor is None and entity.area is not None and entity.area in floors:
            entity.floor = floors[entity.area]
    return registry
