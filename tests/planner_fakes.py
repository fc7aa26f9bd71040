"""A static test home and a scripted intent model that checks its answers obey the schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from edge_agent.agent.planner import Planner
from edge_agent.agent.policy import Policy, PolicyConfig
from edge_agent.devices.model import Range
from edge_agent.devices.registry import Registry
from edge_agent.devices.static import StaticCommand, StaticDevice


def static_light(name: str, area: str, slug: str, **extra: Any) -> StaticDevice:
    return StaticDevice(
        name=name, area=area, domain="light", floor=extra.pop("floor", None),
        commands={
            "turn_on": StaticCommand(topic=f"home/{slug}/set", payload="ON"),
            "turn_off": StaticCommand(topic=f"home/{slug}/set", payload="OFF"),
            "set_brightness": StaticCommand(topic=f"home/{slug}/brightness/set"),
        },
        ranges={"set_brightness": Range(min=0, max=100, unit="%")},
        state_topic=f"home/{slug}/state", **extra,
    )  # fmt: skip


def static_home() -> list[StaticDevice]:
    return [
        static_light("Kitchen Light", "Kitchen", "kitchen_light", floor="Ground Floor"),
        static_light("Counter Strip", "Kitchen", "counter_strip", aliases=["under cabinet lights"]),
        static_light("Bedside Lamp", "Bedroom", "bedside_lamp", floor="Upstairs"),
        StaticDevice(
            name="Front Door", area="Hallway", domain="lock",
            commands={"lock": StaticCommand(topic="home/front_door/set", payload="LOCK"),
                      "unlock": StaticCommand(topic="home/front_door/set", payload="UNLOCK")},
            state_topic="home/front_door/state", state_on="LOCKED", state_off="UNLOCKED",
        ),
        StaticDevice(
            name="Garage Door", area="Garage", domain="cover", device_class="garage",
            commands={"open": StaticCommand(topic="home/garage/set", payload="OPEN"),
                      "close": StaticCommand(topic="home/garage/set", payload="CLOSE")},
            state_topic="home/garage/state", state_on="open", state_off="closed",
        ),
        StaticDevice(
            name="Hall Thermostat", area="Hallway", domain="climate",
            commands={"set_temperature": StaticCommand(topic="home/thermostat/target")},
            ranges={"set_temperature": Range(min=7, max=30, unit="°C")},
            state_topic="home/thermostat/state", state_key="target",
        ),
        StaticDevice(name="Hall Temperature", area="Hallway", domain="sensor",
                     state_topic="home/hall/temperature"),
    ]  # fmt: skip


def _byte_tokenizer() -> Any:
    """An llguidance tokenizer whose tokens are the 256 bytes, to check text against a grammar."""
    from llguidance import LLTokenizer, TokenizerWrapper

    class Bytes:
        eos_token_id = 256
        bos_token_id = None
        tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
        special_token_ids = (256,)

        def __call__(self, text: str) -> list[int]:
            return list(text.encode())

    return LLTokenizer(TokenizerWrapper(Bytes()))


BYTES = _byte_tokenizer()


def grammar_accepts(grammar: str, text: str) -> bool:
    from llguidance import LLMatcher

    matcher = LLMatcher(BYTES, LLMatcher.grammar_from_lark(grammar), log_level=0)
    return bool(matcher.consume_tokens(list(text.encode())) and matcher.is_accepting())


class ScriptedIntentModel:
    """Answers with ``answer(request_text)``, refusing answers the real grammar (run by
    llguidance over bytes) does not accept, so a test cannot pass on an impossible intent."""

    def __init__(self, answer: Callable[[str], dict[str, Any]]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def complete_json(self, prefix: str, request: str, grammar: str) -> str:
        self.calls.append((request, grammar))
        text = request.rsplit("Request: ", 1)[1].removesuffix("\nJSON:\n")
        answer = json.dumps(self.answer(text), separators=(",", ":"), ensure_ascii=False)
        assert grammar_accepts(grammar, answer), (answer, grammar)
        return answer


def planner_for(
    answer: Callable[[str], dict[str, Any]],
    policy: PolicyConfig | None = None,
    clock: Callable[[], float] | None = None,
    devices: list[StaticDevice] | None = None,
) -> tuple[Planner, ScriptedIntentModel, Registry]:
    registry = Registry([])
    registry.add(device.entity() for device in (static_home() if devices is None else devices))
    model = ScriptedIntentModel(answer)
    kwargs = {"clock": clock} if clock else {}
    planner = Planner(model, registry, Policy(policy or PolicyConfig(), **kwargs), **kwargs)
    return planner, model, registry


def intent(action: str, *targets: str, value: float | str | None = None) -> dict[str, Any]:
    return {"targets": list(targets), "action": action, "value": value}
