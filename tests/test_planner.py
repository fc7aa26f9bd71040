"""The planner with a scripted model: resolution, policy, confirmation, replies, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from planner_fakes import (
    ScriptedIntentModel,
    grammar_accepts,
    intent,
    planner_for,
    static_home,
    static_light,
)

from edge_agent.agent.intent import Intent, IntentGrammar, TargetChoice, ValueSpec
from edge_agent.agent.planner import Planner
from edge_agent.agent.policy import Policy, PolicyConfig
from edge_agent.devices.registry import Registry
from edge_agent.devices.static import StaticCommand, StaticDevice
from edge_agent.messages import Context, Request


def ask(planner: object, text: str, **context: str) -> object:
    return planner.handle(Request(id="r1", text=text, context=Context(**context)))  # type: ignore[attr-defined]


def test_a_named_device_gets_its_native_command_and_an_honest_reply() -> None:
    planner, model, _ = planner_for(lambda _: intent("off", "Kitchen Light"))
    response = ask(planner, "kill the kitchen light")
    assert response.status == "ok" and response.id == "r1"
    assert [(a.topic, a.payload) for a in response.actions] == [("home/kitchen_light/set", "OFF")]
    assert response.text == "Turned off the Kitchen Light."
    request, grammar = model.calls[0]
    assert '"\\"Kitchen Light\\""' in grammar
    assert "Request: kill the kitchen light" in request


def test_a_group_expands_to_every_device_of_the_area() -> None:
    planner, _, _ = planner_for(lambda _: intent("on", "lights in Kitchen"))
    response = ask(planner, "lights on in the kitchen")
    assert sorted(a.device for a in response.actions) == ["Counter Strip", "Kitchen Light"]
    assert response.text == "Turned on the Kitchen Light and the Counter Strip."


def test_in_here_uses_the_context_area() -> None:
    planner, model, _ = planner_for(lambda _: intent("on", "lights in Bedroom"))
    response = ask(planner, "turn the light on in here", area="Bedroom")
    assert [a.device for a in response.actions] == ["Bedside Lamp"]
    assert "Here: Bedroom" in model.calls[0][0]


def test_a_request_naming_no_place_is_offered_the_devices_of_the_room_it_came_from() -> None:
    # Eleven rooms of lights whose names share letters with the request; the room the
    # satellite is in has plain names. Fuzzy name scores alone would fill the list with
    # the other rooms and the model could not answer "lights in Workshop" at all.
    lights = [static_light("Workshop Ceiling", "Workshop", "workshop_ceiling")]
    lights += [static_light(f"Hue Iris {n}", f"Room {n}", f"iris_{n}") for n in range(11)]
    planner, model, _ = planner_for(lambda _: intent("on", "lights in Workshop"), devices=lights)
    response = ask(planner, "bit dark in here, isn't it?", area="Workshop")
    assert [a.device for a in response.actions] == ["Workshop Ceiling"]
    request = model.calls[0][0]
    assert "- Workshop Ceiling (light, Workshop)" in request
    assert "Groups: lights in Workshop," in request


def _room(area: str) -> list[StaticDevice]:
    slug = area.lower()
    return [
        static_light(f"{area} Lamp", area, f"{slug}_lamp"),
        StaticDevice(name=f"{area} Blind", area=area, domain="cover",
                     commands={"open": StaticCommand(topic=f"home/{slug}_blind/set")}),
        StaticDevice(name=f"{area} Radiator", area=area, domain="climate",
                     commands={"set_temperature": StaticCommand(topic=f"home/{slug}_rad/set")}),
    ]  # fmt: skip


def test_the_whole_home_groups_are_offered_before_other_rooms_groups() -> None:
    # Said in the den of a home whose rooms each have lights, blinds and a radiator: the
    # den's groups and two other rooms' filled the list and "all lights" was cut off.
    home = [d for area in ("Den", "Hall", "Loft", "Study") for d in _room(area)]
    planner, _, _ = planner_for(lambda _: intent("on", "all lights"), devices=home)
    response = ask(planner, "turn on all the lights", area="Den")
    assert len(response.actions) == 4
    planner, _, _ = planner_for(lambda _: intent("open", "all covers"), devices=home)
    response = ask(planner, "open every one of the blinds", area="Den")
    blinds = sorted(a.device for a in response.actions)
    assert blinds == ["Den Blind", "Hall Blind", "Loft Blind", "Study Blind"]


def test_a_plural_kind_word_finds_its_devices() -> None:
    valves = [StaticDevice(name=f"Rachio {n}", area=area, domain="valve",
                           commands={"open": StaticCommand(topic=f"home/zone_{n}/set")})
              for n, area in enumerate(("Lawn", "Orchard"))]  # fmt: skip
    lights = [d for area in ("Den", "Hall", "Loft", "Study", "Attic", "Porch") for d in _room(area)]
    planner, _, _ = planner_for(lambda _: intent("open", "all valves"), devices=lights + valves)
    response = ask(planner, "open all the sprinklers")
    assert sorted(a.device for a in response.actions) == ["Rachio 0", "Rachio 1"]


def test_a_number_said_as_a_word_ranks_the_device_with_that_number_first() -> None:
    lights = [static_light(f"Xiaomi Lamp {n}", "Den", f"lamp_{n}") for n in range(1, 7)]
    lights += [static_light(f"Strip {n}", f"Landing {n}", f"strip_{n}", floor=f"Floor {n}")
               for n in (2, 3)]  # fmt: skip
    planner, _, _ = planner_for(lambda _: intent("on", "Xiaomi Lamp 5"), devices=lights)
    first = planner.prepare("xiaomi lamp five on, please", None).candidates[0]
    assert first.name == "Xiaomi Lamp 5"
    assert planner.prepare("the lights on floor three", None).groups[0].place == "Floor 3"


def test_chance_letters_in_names_do_not_decide_which_of_a_rooms_devices_comes_first() -> None:
    # The model mostly takes the first device offered, so the first must be the one the
    # request's words point to, not the one whose name shares the most letters with it.
    def device(name: str, domain: str, *actions: str) -> StaticDevice:
        commands = {a: StaticCommand(topic=f"home/{name}/{a}") for a in actions}
        return StaticDevice(name=name, area="Conservatory", domain=domain, commands=commands,
                            state_topic=f"home/{name}/state")  # fmt: skip

    room = [device("Aqara Humidity 3", "sensor"), device("Conservatory Shades", "cover", "open"),
            device("Fujitsu Split 4", "climate", "set_hvac_mode"),
            device("Tradfri Bulb 1", "light", "turn_on", "set_color_temp")]  # fmt: skip
    planner, _, _ = planner_for(lambda _: intent("none"), devices=room)

    def first(text: str) -> str:
        return planner.prepare(text, None).candidates[0].name

    assert first("i want heating mode in the conservatory") == "Fujitsu Split 4"
    assert first("how humid is the conservatory?") == "Aqara Humidity 3"
    assert first("make the conservatory 3000 kelvin") == "Tradfri Bulb 1"


def test_no_target_repeats_the_first() -> None:
    names = ["Lamp", "Fan", "Strip", "lights in Den"]
    grammar = IntentGrammar([TargetChoice(n, {"on": ValueSpec()}) for n in names])

    def answer(*targets: str) -> str:
        return json.dumps({"targets": targets, "action": "on", "value": None},
                          separators=(",", ":"))  # fmt: skip

    for first in names:
        for other in names:
            text = answer(first, other)
            expected = first != other
            assert grammar_accepts(grammar.lark(), text) == expected, text
            assert grammar.allows(Intent.model_validate_json(text)) == expected, text
    assert grammar_accepts(grammar.lark(), answer("Fan", "Lamp", "Strip", "lights in Den"))
    assert not grammar_accepts(grammar.lark(), answer("Fan", "Lamp", "Strip", "Fan"))
    single = IntentGrammar([TargetChoice("Lamp", {"on": ValueSpec()})])
    assert grammar_accepts(single.lark(), answer("Lamp"))
    assert not grammar_accepts(single.lark(), answer("Lamp", "Lamp"))


def test_values_are_clamped_or_refused_by_policy() -> None:
    planner, _, _ = planner_for(lambda _: intent("temperature", "Hall Thermostat", value=45))
    response = ask(planner, "make the hallway 45 degrees")
    assert [(a.payload, a.value) for a in response.actions] == [("30", 30.0)]
    planner, _, _ = planner_for(lambda _: intent("temperature", "Hall Thermostat", value=45),
                                PolicyConfig(out_of_range="refuse"))  # fmt: skip
    response = ask(planner, "make the hallway 45 degrees")
    assert response.status == "error" and not response.actions
    assert "outside 7-30" in response.text


def test_unlocking_needs_a_yes_within_the_timeout() -> None:
    now = [0.0]
    planner, _, _ = planner_for(lambda _: intent("unlock", "Front Door"), clock=lambda: now[0])
    response = ask(planner, "unlock the front door", source="hall")
    assert response.status == "confirm" and not response.actions
    assert response.text == "Do you want me to unlock the Front Door?"
    other = ask(planner, "yes", source="kitchen")  # another satellite cannot confirm it
    assert not other.actions
    done = ask(planner, "yes please", source="hall")
    assert [(a.topic, a.payload) for a in done.actions] == [("home/front_door/set", "UNLOCK")]
    ask(planner, "unlock the front door", source="hall")
    now[0] += 31
    assert not ask(planner, "yes", source="hall").actions  # expired
    ask(planner, "unlock the front door", source="hall")
    assert ask(planner, "no, cancel", source="hall").text == "Cancelled."


def test_opening_the_garage_needs_a_yes_but_closing_does_not() -> None:
    planner, _, _ = planner_for(lambda t: intent("open" if "open" in t else "close", "Garage Door"))
    assert ask(planner, "open the garage").status == "confirm"
    assert ask(planner, "close the garage").actions[0].payload == "CLOSE"


def test_deny_lists_and_allow_lists() -> None:
    planner, _, _ = planner_for(lambda _: intent("off", "Kitchen Light"),
                                PolicyConfig(deny_entities=["kitchen light"]))  # fmt: skip
    response = ask(planner, "turn off the kitchen light")
    assert response.status == "error" and response.error.code == "refused"
    assert not response.actions
    planner, _, _ = planner_for(lambda _: intent("off", "lights in Kitchen"),
                                PolicyConfig(allow_entities=["Counter Strip"]))  # fmt: skip
    assert [a.device for a in ask(planner, "kitchen lights off").actions] == ["Counter Strip"]
    planner, _, _ = planner_for(lambda _: intent("unlock", "Front Door"),
                                PolicyConfig(deny_domains=["lock"]))  # fmt: skip
    assert ask(planner, "unlock the front door").status == "error"


def test_rate_limit_per_device() -> None:
    planner, _, _ = planner_for(lambda _: intent("on", "Kitchen Light"),
                                PolicyConfig(rate_limit_count=2))  # fmt: skip
    results = [ask(planner, "kitchen light on") for _ in range(3)]
    assert [len(r.actions) for r in results] == [1, 1, 0]
    assert results[2].status == "error" and "too many" in results[2].text


def test_state_questions_are_answered_from_reported_state_only() -> None:
    planner, _, registry = planner_for(lambda _: intent("query", "Front Door"))
    assert ask(planner, "is the front door locked?").text == (
        "I don't know the state of the Front Door yet."
    )
    now = datetime.now(UTC)
    registry.handle("home/front_door/state", b"LOCKED", now)
    assert ask(planner, "is the front door locked?").text == "The Front Door is locked."
    registry.handle("home/front_door/state", b"UNLOCKED", now - timedelta(hours=3))
    assert "when last reported, 3 hours ago" in ask(planner, "is the front door locked?").text


def test_a_sensor_reading_is_reported_with_its_value() -> None:
    planner, _, registry = planner_for(lambda _: intent("query", "Hall Temperature"))
    registry.handle("home/hall/temperature", b"21.5")
    assert ask(planner, "how warm is the hallway").text == "The Hall Temperature is 21.5."


def test_out_of_scope_gets_no_command() -> None:
    planner, _, _ = planner_for(lambda _: intent("none"))
    response = ask(planner, "what's the capital of France?")
    assert response.status == "ok" and not response.actions
    assert "only control" in response.text


def test_bad_text_never_reaches_the_model() -> None:
    planner, model, _ = planner_for(lambda _: intent("none"))
    for text in ("", "   ", "x" * 10_000):
        response = ask(planner, text)
        assert response.status == "error" and not response.actions
    assert model.calls == []


def test_a_failing_model_is_an_error_response_not_a_crash() -> None:
    def broken(_: str) -> dict[str, object]:
        raise RuntimeError("onnxruntime fell over")

    planner, _, _ = planner_for(broken)  # type: ignore[arg-type]
    response = ask(planner, "turn on the kitchen light")
    assert response.status == "error" and response.error.code == "internal"


def test_the_prompt_stays_bounded_in_a_big_home() -> None:
    from edge_agent.devices.static import StaticCommand, StaticDevice

    planner, model, registry = planner_for(lambda _: intent("on", "Bedside Lamp"))
    registry.add(
        StaticDevice(name=f"Plug {i}", area=f"Room {i % 40}", domain="switch",
                     commands={"turn_on": StaticCommand(topic=f"p/{i}", payload="1")}).entity()
        for i in range(500)
    )  # fmt: skip
    response = ask(planner, "switch on the bedside lamp")
    assert [a.device for a in response.actions] == ["Bedside Lamp"]
    request, grammar = model.calls[0]
    assert request.count("\n- ") <= 8
    assert grammar.count("\n    | ") <= 16  # one alternative per target offered


class _Doubtful(ScriptedIntentModel):
    """A scripted model that also says how likely an empty target list was."""

    def __init__(self, answer: Any, choice: dict[str, float]) -> None:
        super().__init__(answer)
        self.choice = choice

    def first_choice(self) -> dict[str, float]:
        return self.choice


def _doubtful_planner(choice: dict[str, float], threshold: float | None) -> Planner:
    registry = Registry([])
    registry.add(device.entity() for device in static_home())
    model = _Doubtful(lambda _: intent("on", "Kitchen Light"), choice)
    return Planner(model, registry, Policy(PolicyConfig()), none_threshold=threshold)


def test_a_doubtful_device_choice_becomes_none_above_the_threshold() -> None:
    unsure = {"[": 0.3, '["': 0.7}
    acted = _doubtful_planner(unsure, None).handle(Request(text="ok thanks"))
    assert [a.device for a in acted.actions] == ["Kitchen Light"]
    planner = _doubtful_planner(unsure, 0.25)
    held = planner.handle(Request(text="ok thanks"))
    assert held.actions == [] and held.intent is not None and held.intent["action"] == "none"
    assert planner.last_doubt == pytest.approx(0.3)
    sure = _doubtful_planner({"[": 0.01, '["': 0.99}, 0.25).handle(Request(text="kitchen on"))
    assert [a.device for a in sure.actions] == ["Kitchen Light"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"[": 0.2, '["': 0.8}, 0.2),
        ({"[]": 0.1, "[": 0.1, '["': 0.8}, 0.2),
        ({'["': 1.0}, 0.0),
        ({"[": 1.0}, None),  # a tokenizer that writes "[" alone either way: unreadable
        ({'"on': 0.6, '"off': 0.4}, None),  # the first choice was not the targets
        ({}, None),
    ],
)
def test_the_probability_of_naming_no_device(
    choice: dict[str, float], expected: float | None
) -> None:
    from edge_agent.agent.planner import no_target_probability

    model = _Doubtful(lambda _: intent("none"), choice)
    got = no_target_probability(model)
    assert got == (pytest.approx(expected) if expected is not None else None)
    assert no_target_probability(ScriptedIntentModel(lambda _: intent("none"))) is None
