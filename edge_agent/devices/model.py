"""One model for a device (an entity) whatever ecosystem it came from.

Discovery adapters (Home Assistant, zigbee2mqtt, Tasmota, Homie, static config) turn
their native descriptions into :class:`Entity`; each adapter also renders commands and
reads state for the entities it made, using what it stored in ``Entity.native``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Domain = Literal[
    "light", "switch", "fan", "cover", "lock", "valve", "climate", "sensor",
    "binary_sensor", "button", "scene",
]  # fmt: skip
DOMAINS: tuple[Domain, ...] = (
    "light", "switch", "fan", "cover", "lock", "valve", "climate", "sensor",
    "binary_sensor", "button", "scene",
)  # fmt: skip

Ecosystem = Literal["homeassistant", "zigbee2mqtt", "tasmota", "homie", "static"]

Action = Literal[
    "turn_on", "turn_off", "toggle", "set_brightness", "set_color_temp", "set_color",
    "set_temperature", "set_hvac_mode", "set_position", "open", "close", "stop", "lock",
    "unlock", "set_fan_percentage", "activate",
]  # fmt: skip
ACTIONS: tuple[Action, ...] = (
    "turn_on", "turn_off", "toggle", "set_brightness", "set_color_temp", "set_color",
    "set_temperature", "set_hvac_mode", "set_position", "open", "close", "stop", "lock",
    "unlock", "set_fan_percentage", "activate",
)  # fmt: skip

VALUE_ACTIONS: frozenset[Action] = frozenset(
    {"set_brightness", "set_color_temp", "set_temperature", "set_position", "set_fan_percentage"}
)
"""Actions that take a number: the entity's :class:`Range` for it bounds the value."""


class Range(BaseModel):
    """The accepted values of a numeric setting, in the unit people speak in."""

    model_config = ConfigDict(frozen=True)

    min: float
    max: float
    step: float = 1.0
    unit: str = ""

    def clamp(self, value: float) -> float:
        return min(self.max, max(self.min, value))

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max


class Entity(BaseModel):
    """A thing that can be commanded or asked about."""

    id: str
    """Unique across sources, e.g. ``homeassistant:light.kitchen``."""
    name: str
    aliases: list[str] = Field(default_factory=list)
    area: str | None = None
    floor: str | None = None
    domain: Domain
    device_class: str | None = None
    ecosystem: Ecosystem
    actions: list[Action] = Field(default_factory=list)
    """What it can be told to do; state questions are always allowed."""
    ranges: dict[str, Range] = Field(default_factory=dict)
    """Bounds per value action (``set_brightness`` in %, ``set_temperature`` in degrees)."""
    options: dict[str, list[str]] = Field(default_factory=dict)
    """Allowed words per enumerated action (``set_hvac_mode``: ["heat", "cool", "off"])."""
    native: dict[str, Any] = Field(default_factory=dict)
    """What the adapter needs to render commands and read state (topics, payloads)."""
    state: dict[str, Any] = Field(default_factory=dict)
    """Last known state, normalised: ``on`` (bool), ``brightness`` (%), ``position`` (%),
    ``temperature``, ``current_temperature``, ``hvac_mode``, ``locked``, ``open``, ``value``."""
    state_time: datetime | None = None
    available: bool | None = None
    """None: the source has no availability topic."""

    def words(self) -> list[str]:
        """Every way people name it, for retrieval."""
        return [self.name, *self.aliases]

    def supports(self, action: Action) -> bool:
        return action in self.actions


DEFAULT_ACTIONS: dict[Domain, list[Action]] = {
    "light": ["turn_on", "turn_off", "toggle"],
    "switch": ["turn_on", "turn_off", "toggle"],
    "fan": ["turn_on", "turn_off", "toggle"],
    "cover": ["open", "close", "stop"],
    "lock": ["lock", "unlock"],
    "valve": ["open", "close"],
    "climate": ["set_temperature", "turn_off"],
    "sensor": [],
    "binary_sensor": [],
    "button": ["activate"],
    "scene": ["activate"],
}
"""The actions an entity of a domain has before its discovery config adds any."""
