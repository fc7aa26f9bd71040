"""The agent's request and response messages, shared by every transport."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "error", "clarify", "confirm", "busy"]


class Context(BaseModel):
    area: str | None = None
    """Where the request comes from (the satellite's room), for "in here"."""
    language: str = "en"
    source: str = "mqtt"
    """Who asked (a satellite, an MQTT client): confirmations are kept per source."""


class Request(BaseModel):
    id: str | None = None
    text: str
    context: Context = Field(default_factory=Context)


class ActionTaken(BaseModel):
    device: str
    """The entity's name, as people call it."""
    action: str
    topic: str
    payload: str
    entity_id: str = ""
    value: float | str | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str


class Response(BaseModel):
    id: str | None = None
    status: Status
    text: str
    actions: list[ActionTaken] = Field(default_factory=list)
    error: ErrorInfo | None = None
    intent: dict[str, Any] | None = None
    """What the model produced, for debugging."""
    about: list[str] = Field(default_factory=list)
    """Entity ids a state answer is about."""
