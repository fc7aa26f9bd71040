"""The planner's prompt: a fixed part (prefix-cached) and a short part per request.

The fixed part explains the answer format on a fictional home; the request part lists
only this request's candidate devices and groups, so its length does not grow with the
home. Training data for fine-tuning (issue 5) must use exactly these two functions.
"""

from __future__ import annotations

from typing import Literal

from edge_agent.devices.model import Entity

INSTRUCTIONS = """\
You control a smart home. Turn the request into one JSON command.
targets: device names from the list, or groups from the list; [] when none fits.
action: on, off, toggle, brightness (percent), warmth (kelvin), color, temperature \
(degrees), mode, position (percent open), open, close, stop, lock, unlock, fan_speed \
(percent), activate (a scene or button), query (a question about a device), or none \
(not about these devices, or a device that is not listed).
value: a number or a word for the action, else null.
"""

_EXAMPLE_DEVICES = """\
Devices:
- Desk Lamp (light, Study)
- Reading Light (light, Study)
- Hall Thermostat (climate, Hallway)
- Patio Blinds (cover, Patio)
- Back Door Lock (lock, Kitchen)
Groups: lights in Study, all lights
"""

_EXAMPLES = (
    ("Study", "switch off the desk lamp",
     '{"targets":["Desk Lamp"],"action":"off","value":null}'),
    ("", "it's too dark in the study",
     '{"targets":["lights in Study"],"action":"on","value":null}'),
    ("Study", "dim the lights in here to 30 percent",
     '{"targets":["lights in Study"],"action":"brightness","value":30}'),
    ("", "set the hallway to twenty one degrees",
     '{"targets":["Hall Thermostat"],"action":"temperature","value":21}'),
    ("", "is the back door locked?",
     '{"targets":["Back Door Lock"],"action":"query","value":null}'),
    ("", "open the patio blinds halfway",
     '{"targets":["Patio Blinds"],"action":"position","value":50}'),
    ("", "what's the weather tomorrow", '{"targets":[],"action":"none","value":null}'),
    ("", "turn on the garage heater", '{"targets":[],"action":"none","value":null}'),
)  # fmt: skip


def describe(entity: Entity) -> str:
    where = f", {entity.area}" if entity.area else ""
    return f"- {entity.name} ({entity.domain}{where})"


def _request_block(devices: str, groups: list[str], here: str, text: str) -> str:
    lines = [devices.rstrip("\n")]
    if groups:
        lines.append("Groups: " + ", ".join(groups))
    if here:
        lines.append(f"Here: {here}")
    lines.append(f"Request: {text}")
    # The answer starts on its own line: "JSON:" + "\n" tokenizes the same in the
    # examples and in the live request, whatever the first token of the answer is.
    lines.append("JSON:\n")
    return "\n".join(lines)


PromptStyle = Literal["few-shot", "instructions"]


def prefix(style: PromptStyle = "few-shot") -> str:
    """The fixed part: instructions, and for models not trained on the task, worked
    examples on a home that is not the user's."""
    parts = [INSTRUCTIONS]
    if style == "few-shot":
        for here, text, answer in _EXAMPLES:
            parts.append(_request_block(_EXAMPLE_DEVICES, [], here, text) + answer + "\n")
    return "\n".join(parts) + "\n"


def request(candidates: list[Entity], groups: list[str], here: str | None, text: str) -> str:
    """The part that changes: this request's devices, groups, place and words."""
    devices = "Devices:\n" + "\n".join(describe(e) for e in candidates)
    return _request_block(devices, groups, here or "", " ".join(text.split()))
