"""Sentence sets for measuring the planner: homes, requests and the exact expected commands.

A set is a JSON file: ``{"name", "homes": {home_id: [StaticDevice, ...]}, "cases": [...]}``.
Homes are written as static devices so that a set exercises the planner, not an
ecosystem's discovery format. A case is right when the commands the planner produced
(before confirmation: the policy's confirmations are off during evaluation) are exactly
the expected ones: same devices, same actions, values equal within ``VALUE_TOLERANCE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.devices.model import Action
from edge_agent.devices.static import StaticDevice

VALUE_TOLERANCE = 0.5


class ExpectedCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    """The device's name in its home."""
    action: Action
    value: float | str | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str
    text: str
    area: str | None = Field(default=None, description="the satellite's area, for 'in here'")
    kind: Literal["command", "query", "none"] = "command"
    """command: ``expect`` lists every command; query: ``expect_query`` names the devices
    asked about (no command); none: out of scope or an unknown device (no command)."""
    expect: list[ExpectedCommand] = Field(default_factory=list)
    expect_query: list[str] = Field(default_factory=list)
    family: str = ""
    """The template family or phrasing style, for reporting and for splits."""
    intent: dict[str, Any] | None = None
    """The planner intent that yields ``expect`` (action word, targets as device names or
    group labels, value): the training target when a set is used for fine-tuning."""


class EvalSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    homes: dict[str, list[StaticDevice]]
    cases: list[Case]

    @classmethod
    def load(cls, path: Path) -> EvalSet:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def builtin_sets() -> dict[str, Path]:
    folder = Path(__file__).parent / "evalsets"
    return {p.stem: p for p in sorted(folder.glob("*.json"))}
