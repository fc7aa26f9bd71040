"""The agent's request and response messages, shared by every transport."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["ok", "error", "clarify", "confirm", "busy"]

MAX_PAYLOAD_BYTES = 16 * 1024
"""Requests are a sentence or two; anything bigger is refused unread."""

MAX_TEXT_CHARS = 500
"""Default longest text (``agent.max_request_chars``): longer would only make the model
read for seconds before answering "none"."""


class Context(BaseModel):
    area: str | None = None
    """Where the request comes from (the satellite's room), for "in here"."""
    language: str = "en"
    source: str = "mqtt"
    """Who asked (a satellite, an MQTT client): confirmations are kept per source."""


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=128)
    text: str = Field(max_length=MAX_PAYLOAD_BYTES)
    context: Context = Field(default_factory=Context)

    @field_validator("id", mode="before")
    @classmethod
    def _numeric_ids_are_ids(cls, value: Any) -> Any:
        # Many MQTT clients number their requests; the id is echoed back as a string.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ActionTaken(BaseModel):
    device: str
    """The entity's name, as people call it."""
    action: str
    topic: str
    payload: str
    entity_id: str = ""
    value: float | str | None = None


class RequestError(ValueError):
    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.request_id = code, request_id


def parse_request(payload: bytes, max_chars: int = MAX_TEXT_CHARS) -> Request:
    """A request from an MQTT payload: a JSON object with ``text``, or bare UTF-8 text.

    Raises :class:`RequestError` (with the request's id when one could be read) for
    anything else: too big, not UTF-8, JSON of the wrong shape, too deeply nested, text
    that is empty or over ``max_chars``.
    """
    request = _parse(payload)
    text = request.text.strip()
    if not text:
        raise RequestError("bad_request", "the request has no text", request.id)
    if len(text) > MAX_TEXT_CHARS:
        raise RequestError("too_long", f"the text is over {MAX_TEXT_CHARS} characters", request.id)
    return request


def _parse(payload: bytes) -> Request:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RequestError("too_large", f"the request is over {MAX_PAYLOAD_BYTES} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError("bad_encoding", f"the request is not UTF-8: {error}") from None
    stripped = text.strip()
    if not stripped.startswith(("{", "[", '"')):
        return Request(text=text)
    import json

    try:
        data = json.loads(stripped)
    except RecursionError:
        raise RequestError("bad_request", "the JSON is nested too deeply") from None
    except ValueError:
        return Request(text=text)  # "{ lights on" is bare text that happens to start oddly
    if isinstance(data, str):
        return Request(text=data)
    if not isinstance(data, dict):
        raise RequestError("bad_request", "a JSON request must be an object with a text field")
    request_id = data.get("id")
    request_id = str(request_id) if isinstance(request_id, (str, int)) else None
    try:
        return Request.model_validate(data)
    except ValueError as error:
        detail = " ".join(str(error).splitlines()[1:3])
        raise RequestError("bad_request", f"invalid request: {detail}", request_id) from None


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
    timings_ms: dict[str, float] = Field(default_factory=dict)
    """Per-stage latency: queue, plan (retrieval and grammar), prefill, decode, publish."""
