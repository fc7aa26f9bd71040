"""Devices declared in the config file, for everything that announces nothing.

Each action names its topic and payload; ``{value}`` in a payload is replaced by the
command's value. State comes from one topic, plain or JSON (``state_key``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.devices.adapter import DeviceCommand, DiscoveryUpdate, MqttMessage, RenderError
from edge_agent.devices.model import Action, Domain, Ecosystem, Entity, Range

log = logging.getLogger(__name__)


class StaticCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1)
    payload: str = "{value}"


class StaticDevice(BaseModel):
    """A device written in the config file."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="unique id; default: from the name")
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    area: str | None = None
    floor: str | None = None
    domain: Domain
    device_class: str | None = None
    commands: dict[Action, StaticCommand] = Field(default_factory=dict)
    ranges: dict[Action, Range] = Field(default_factory=dict)
    options: dict[Action, list[str]] = Field(default_factory=dict)
    state_topic: str | None = None
    state_key: str | None = Field(default=None, description="JSON key of the state, if JSON")
    state_on: str = "ON"
    state_off: str = "OFF"

    def entity(self) -> Entity:
        slug = re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")
        first = next(iter(self.commands.values()), None)
        return Entity(
            id=f"static:{self.id or slug}",
            name=self.name,
            aliases=self.aliases,
            area=self.area,
            floor=self.floor,
            domain=self.domain,
            device_class=self.device_class,
            ecosystem="static",
            actions=list(self.commands),
            ranges={str(k): v for k, v in self.ranges.items()},
            options={str(k): v for k, v in self.options.items()},
            native={
                "commands": {k: c.model_dump() for k, c in self.commands.items()},
                "command_topic": first.topic if first else None,
                "state_topic": self.state_topic,
                "state_key": self.state_key,
                "state_on": self.state_on,
                "state_off": self.state_off,
            },
        )


class StaticAdapter:
    ecosystem: Ecosystem = "static"

    def discovery_topics(self) -> list[str]:
        return []

    def is_discovery(self, topic: str) -> bool:
        return False

    def parse_discovery(self, topic: str, payload: bytes) -> DiscoveryUpdate:
        return DiscoveryUpdate()

    def state_topics(self, entity: Entity) -> list[str]:
        topic = entity.native.get("state_topic")
        return [topic] if topic else []

    def parse_state(
        self, entity: Entity, topic: str, payload: bytes, now: datetime
    ) -> dict[str, Any] | None:
        if topic != entity.native.get("state_topic"):
            return None
        text = payload.decode("utf-8", errors="replace").strip()
        key = entity.native.get("state_key")
        raw: Any = text
        if key:
            try:
                data = json.loads(text)
            except ValueError:
                log.warning("ignoring %s: not JSON", topic)
                return None
            if not isinstance(data, dict) or key not in data:
                return None
            raw = data[key]
        # What state_on / state_off mean depends on the domain: locked, open, or on.
        field = {"lock": "locked", "cover": "open", "valve": "open"}.get(entity.domain, "on")
        if str(raw) == entity.native.get("state_on"):
            return {field: True}
        if str(raw) == entity.native.get("state_off"):
            return {field: False}
        try:
            return {"value": float(raw)}
        except (TypeError, ValueError):
            return {"value": str(raw)}

    def render(self, entity: Entity, command: DeviceCommand) -> list[MqttMessage]:
        spec = entity.native.get("commands", {}).get(command.action)
        if spec is None:
            raise RenderError(f"{entity.name} has no command for {command.action}")
        value = command.value
        text = "" if value is None else _format_value(value)
        return [MqttMessage(spec["topic"], str(spec["payload"]).replace("{value}", text))]


def _format_value(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
