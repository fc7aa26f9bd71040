"""What the model is asked to produce, and the grammar that makes it produce only that.

An intent names an action word, targets (device names or groups such as "lights in
Kitchen") and an optional value. The grammar's enumerations hold only the candidates of
this request, so the model cannot name a device, a group or an action that does not
exist; the resolver and the policy then check everything again against the registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ValueSpec:
    """What may follow ``"value":`` for one action of one target."""

    words: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    """Inclusive integer bounds; None: no number. Wider than the device's range on
    purpose, so that "set it to 45" is said as 45 and the policy clamps or refuses it."""

    def allows(self, value: float | str | None) -> bool:
        if value is None:
            return True
        if isinstance(value, str):
            return value in self.words
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    def lark(self) -> str:
        options = ['"null"']
        if self.low is not None and self.high is not None:
            number = {"type": "integer", "minimum": self.low, "maximum": self.high}
            options.insert(0, f"%json {json.dumps(number)}")
        if self.words:
            options.insert(0, f"%json {json.dumps({'enum': list(self.words)})}")
        return " | ".join(options)


@dataclass(frozen=True)
class TargetChoice:
    label: str
    """A device name or a group label."""
    actions: dict[str, ValueSpec]
    """Intent words this target can do (always with ``query``) and their values."""


def _literal(text: str) -> str:
    """A Lark string literal matching ``text`` exactly."""
    return json.dumps(text, ensure_ascii=False)


class IntentGrammar:
    """The intents allowed for one request, as a Lark grammar for llguidance.

    Unlike a flat JSON schema, the actions offered after a target are the ones that
    target can do (a lock can be locked, not dimmed) and values are typed per action.
    The output is still the intent's compact JSON. ``allows`` is the same rule in
    Python, for checks and for scripted models in tests.
    """

    def __init__(self, choices: list[TargetChoice]) -> None:
        self.choices = choices
        self._by_label = {c.label: c for c in choices}

    def allows(self, intent: Intent) -> bool:
        if intent.action == NONE:
            return not intent.targets and intent.value is None
        if not intent.targets or len(intent.targets) > MAX_TARGETS:
            return False
        first = self._by_label.get(intent.targets[0])
        if first is None or any(t not in self._by_label for t in intent.targets):
            return False
        if first.label in intent.targets[1:]:
            return False
        spec = first.actions.get(intent.action)
        return spec is not None and spec.allows(intent.value)

    def lark(self) -> str:
        def label(choice: TargetChoice) -> str:
            return _literal(json.dumps(choice.label, ensure_ascii=False))

        rules = [
            "start: " + _literal('{"targets":[') + " body",
            "body: " + _literal('],"action":"none","value":null}'),
        ]
        close_targets, close = _literal('],"action":'), _literal("}")
        actions = []
        for i, choice in enumerate(self.choices):
            more = f'("," other{i}){{0,{MAX_TARGETS - 1}}}' if len(self.choices) > 1 else ""
            rules.append(f"    | {label(choice)} {more} {close_targets} acts{i} {close}")
            acts = [
                f"{_literal(json.dumps(word) + ',' + json.dumps('value') + ':')} ({spec.lark()})"
                for word, spec in choice.actions.items()
            ]
            actions.append(f"acts{i}: " + " | ".join(acts))
        rules += actions
        n = len(self.choices)
        if n > 1:
            # The others never repeat the first target: a model that wrote it again had
            # dropped one of the devices it was asked for. "Any label but i" is the labels
            # before i or after it, two chains of rules, so the grammar grows linearly.
            rules += [f"label{k}: {label(c)}" for k, c in enumerate(self.choices)]
            rules += ["before1: label0"]
            rules += [f"before{k}: before{k - 1} | label{k - 1}" for k in range(2, n)]
            rules += [f"after{n - 1}: label{n - 1}"]
            rules += [f"after{k}: label{k} | after{k + 1}" for k in range(1, n - 1)]
            rules += ["other0: after1", f"other{n - 1}: before{n - 1}"]
            rules += [f"other{i}: before{i} | after{i + 1}" for i in range(1, n - 1)]
        return "\n".join(rules) + "\n"
