"""Reading requests from MQTT payloads: what is accepted, and the error for everything else."""

from __future__ import annotations

import json

import pytest

from edge_agent.messages import MAX_TEXT_CHARS, RequestError, parse_request


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"turn on the kitchen light", "turn on the kitchen light"),
        (b'"lights off"', "lights off"),
        (b"{ lights on", "{ lights on"),  # not JSON: bare text that starts oddly
        (json.dumps({"id": 3, "text": "on", "context": {"area": "Den"}}).encode(), "on"),
    ],
)
def test_accepted_requests(payload: bytes, text: str) -> None:
    assert parse_request(payload).text == text


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xfe", "bad_encoding"),
        (b"x" * 20_000, "too_large"),
        (b"[" * 5_000 + b"]" * 5_000, "bad_request"),
        (b'{"a":' * 2_000 + b"1" + b"}" * 2_000, "bad_request"),
        (b"[1, 2]", "bad_request"),
        (b'{"text": 42}', "bad_request"),
        (b"   ", "bad_request"),
        (b'{"id": "q", "text": " "}', "bad_request"),
        (b"on " * (MAX_TEXT_CHARS // 2), "too_long"),
    ],
)
def test_refused_requests_name_the_reason(payload: bytes, code: str) -> None:
    with pytest.raises(RequestError) as raised:
        parse_request(payload)
    assert raised.value.code == code


def test_an_error_keeps_the_id_it_could_read() -> None:
    with pytest.raises(RequestError) as raised:
        parse_request(json.dumps({"id": 9, "text": ""}).encode())
    assert raised.value.request_id == "9"
