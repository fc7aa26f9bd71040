"""What the model is asked to produce, and the grammar that makes it produce only that.

An intent names an action word, targets (device names or groups such as "lights in
Kitchen") and an optional value. The grammar's enumerations hold only the candidates of
this request, so the model cannot name a device, a group or an action that does not
exist; the resolver and the policy then check everything again against the registry.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from edge_agent.devices.model import Action

INTENT_ACTIONS: dict[str, Action] = {
    "on": "turn_on",
    "off": "turn_off",
    "toggle": "toggle",
    "brightness": "set_brightness",
    "warmth": "set_color_temp",
    "color": "set_color",
    "temperature": "set_temperature",
    "mode": "set_hvac_mode",
    "position": "set_position",
    "open": "open",
    "close": "close",
    "stop": "stop",
    "lock": "lock",
    "unlock": "unlock",
    "fan_speed": "set_fan_percentage",
    "activate": "activate",
}
"""Intent words -> registry actions. The words start differently (no shared first
token such as "turn_" or "set_") so that the model's first token commits to one."""
QUERY = "query"
NONE = "none"
MAX_TARGETS = 4


class Intent(BaseModel):
    action: str
    targets: list[str] = Field(default_factory=list)
    value: float | str | None = None

    @property
    def registry_action(self) -> Action | None:
        return INTENT_ACTIONS.get(self.action)


def intent_schema(
    targets: list[str], actions: list[str], value_range: tuple[int, int], words: list[str]
) -> dict[str, Any]:
    """A JSON schema allowing only these targets, actions, numbers and value words."""
    value: list[dict[str, Any]] = [
        {"type": "integer", "minimum": value_range[0], "maximum": value_range[1]},
        {"type": "null"},
    ]
    if words:
        value.insert(1, {"enum": sorted(set(words))})
    return {
        "type": "object",
        "properties": {
            "action": {"enum": actions},
            "targets": {"type": "array", "items": {"enum": targets}, "maxItems": MAX_TARGETS},
            "value": {"anyOf": value},
        },
        "required": ["action", "targets", "value"],
        "additionalProperties": False,
    }
