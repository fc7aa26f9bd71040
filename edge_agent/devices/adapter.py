"""What every ecosystem adapter provides: discovery, state reading and command rendering.

Adapters are pure functions of topics and payloads: no MQTT client, no clock except the
one passed in, so they are tested with the documented payloads of each ecosystem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from edge_agent.devices.model import Action, Ecosystem, Entity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttMessage:
    """One message to publish. Commands are QoS 1 and never retained: a retained command
    is replayed to the device on every reconnect (Tasmota even takes it as its power-on
    state)."""

    topic: str
    payload: str
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True)
class DeviceCommand:
    """A resolved, policy-checked command for one entity."""

    entity_id: str
    action: Action
    value: float | str | None = None
    """A number in the entity's range for value actions (``set_brightness``: percent,
    ``set_color_temp``: kelvin), a word for ``set_hvac_mode`` and ``set_color``."""


@dataclass
class DiscoveryUpdate:
    """What one discovery message changed."""

    entities: list[Entity] = field(default_factory=list)
    """New or replaced entities (same id: replace)."""
    removed: list[str] = field(default_factory=list)
    """Ids of entities that are gone."""
    availability: dict[str, bool] = field(default_factory=dict)
    """Entity id -> online, for availability messages."""


class RenderError(ValueError):
    """The entity cannot carry out this command (an unsupported action or a missing topic)."""


class Adapter(Protocol):
    ecosystem: Ecosystem

    def discovery_topics(self) -> list[str]:
        """MQTT topic filters (with wildcards) that carry discovery messages."""

    def is_discovery(self, topic: str) -> bool:
        """Whether ``topic`` is one of this adapter's discovery topics."""

    def parse_discovery(self, topic: str, payload: bytes) -> DiscoveryUpdate:
        """Entities described by one discovery message. A payload that is not valid is
        logged with the topic and the reason and yields an empty update; it never raises."""

    def state_topics(self, entity: Entity) -> list[str]:
        """Topics that carry this entity's state or availability (no wildcards)."""

    def parse_state(
        self, entity: Entity, topic: str, payload: bytes, now: datetime
    ) -> dict[str, Any] | None:
        """The normalised state fields a state message sets (see ``Entity.state``), or
        None when the message says nothing about this entity. Availability messages
        return ``{"available": bool}``. Never raises on a bad payload."""

    def render(self, entity: Entity, command: DeviceCommand) -> list[MqttMessage]:
        """The native topic(s) and payload(s) that carry out ``command``; raises
        :class:`RenderError` when this entity cannot."""


def decode_json(topic: str, payload: bytes) -> Any | None:
    """The JSON in ``payload``, or None (logged with the topic) when it is not JSON."""
    import json

    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        log.warning("ignoring %s: not JSON (%s)", topic, error)
        return None


def json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text``, or None for anything else (plain payloads are normal)."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
