"""What may be done, from the config: ranges, allow / deny lists, confirmation, rate limits."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.devices.adapter import DeviceCommand
from edge_agent.devices.model import VALUE_ACTIONS, Domain, Entity


class PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out_of_range: Literal["clamp", "refuse"] = Field(
        default="clamp", description="a value outside a device's range: clamp it, or refuse"
    )
    allow_domains: list[Domain] | None = Field(
        default=None, description="only these domains may be commanded (default: all)"
    )
    deny_domains: list[Domain] = Field(default_factory=list)
    allow_entities: list[str] | None = Field(
        default=None, description="only these entity ids or names may be commanded"
    )
    deny_entities: list[str] = Field(default_factory=list, description="entity ids or names")
    confirm_actions: list[str] = Field(
        default_factory=lambda: ["unlock"], description="actions that need a spoken 'yes'"
    )
    confirm_opening: list[str] = Field(
        default_factory=lambda: ["garage", "gate", "door"],
        description="device classes whose opening needs a 'yes' (garage doors, gates)",
    )
    confirm_timeout_s: float = Field(default=30.0, gt=0)
    rate_limit_count: int = Field(default=10, ge=1, description="commands per device ...")
    rate_limit_window_s: float = Field(default=60.0, gt=0, description="... in this window")


Verdict = Literal["allow", "confirm", "deny"]


@dataclass
class Decision:
    verdict: Verdict
    command: DeviceCommand
    reason: str = ""


class Policy:
    def __init__(self, config: PolicyConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def check(self, entity: Entity, command: DeviceCommand) -> Decision:
        """Allow, ask for confirmation, or deny one command (values clamped if allowed)."""
        c = self.config
        names = {entity.id, entity.name.lower()}
        if c.allow_domains is not None and entity.domain not in c.allow_domains:
            return Decision("deny", command, f"{entity.domain} devices are not allowed")
        if entity.domain in c.deny_domains:
            return Decision("deny", command, f"{entity.domain} devices are not allowed")
        allowed = {n.lower() for n in c.allow_entities} if c.allow_entities is not None else None
        if allowed is not None and not names & allowed:
            return Decision("deny", command, f"{entity.name} is not on the allow list")
        if names & {n.lower() for n in c.deny_entities}:
            return Decision("deny", command, f"{entity.name} is on the deny list")
        if not entity.supports(command.action):
            return Decision("deny", command, f"{entity.name} cannot {command.action}")
        checked = self._check_value(entity, command)
        if isinstance(checked, str):
            return Decision("deny", command, checked)
        if self._needs_confirmation(entity, checked):
            return Decision("confirm", checked, f"{entity.name}: {checked.action} needs a yes")
        return Decision("allow", checked)

    def _check_value(self, entity: Entity, command: DeviceCommand) -> DeviceCommand | str:
        if command.action in VALUE_ACTIONS:
            if not isinstance(command.value, (int, float)):
                return f"{command.action} needs a number"
            bounds = entity.ranges.get(command.action)
            if bounds is None:
                return f"{entity.name} has no range for {command.action}"
            value = float(command.value)
            if not bounds.contains(value):
                if self.config.out_of_range == "refuse":
                    return f"{value:g} is outside {bounds.min:g}-{bounds.max:g} for {entity.name}"
                value = bounds.clamp(value)
            return DeviceCommand(command.entity_id, command.action, value)
        options = entity.options.get(command.action)
        if options is not None and command.value not in options:
            return f"{entity.name} accepts {', '.join(options)} for {command.action}"
        return command

    def _needs_confirmation(self, entity: Entity, command: DeviceCommand) -> bool:
        if command.action in self.config.confirm_actions:
            return True
        opening = command.action == "open" or (
            command.action == "set_position" and isinstance(command.value, float)
            and command.value > 0
        )  # fmt: skip
        return opening and (entity.device_class or "") in self.config.confirm_opening

    def take_rate_slot(self, entity_id: str) -> bool:
        """Record one command for ``entity_id``; False if it is over its rate limit."""
        now = self._clock()
        recent = self._recent.setdefault(entity_id, deque())
        while recent and now - recent[0] > self.config.rate_limit_window_s:
            recent.popleft()
        if len(recent) >= self.config.rate_limit_count:
            return False
        recent.append(now)
        return True
