"""Grammar commands read without the model: never a wrong command, and the rest left to it."""

from __future__ import annotations

from planner_fakes import ScriptedIntentModel, intent

from edge_agent.agent.evalset import EvalSet, builtin_sets
from edge_agent.agent.evaluate import EVAL_POLICY, judge
from edge_agent.agent.planner import Planner
from edge_agent.agent.policy import Policy
from edge_agent.demo.fixtures import demo_registry
from edge_agent.devices.registry import Registry
from edge_agent.messages import Context, Request
from edge_agent.voice.bench import demo_commands
from edge_agent.voice.phrases import words_to_digits
from edge_agent.voice.spoken_intent import SpokenCommands


def _planner(registry: Registry, model: ScriptedIntentModel) -> Planner:
    return Planner(model, registry, Policy(EVAL_POLICY),  # type: ignore[arg-type]
                   spoken=SpokenCommands(registry.entities))  # fmt: skip


def _voice(text: str, area: str | None = None) -> Request:
    return Request(text=text, context=Context(area=area, source="voice:test"))


def test_what_it_reads_in_sentences_written_by_people_is_always_right() -> None:
    """The hand-written set (four homes, people's phrasings): every sentence the reader
    takes must give exactly the expected commands; what it does not take goes to the model
    (here one that answers "none", so a wrong fallback shows up as a wrong case too)."""
    evalset = EvalSet.load(builtin_sets()["handwritten"])
    registries: dict[str, Registry] = {}
    read, wrong = 0, []
    for case in evalset.cases:
        if case.home not in registries:
            registries[case.home] = Registry([])
            registries[case.home].add(d.entity() for d in evalset.homes[case.home])
        registry = registries[case.home]
        response = _planner(registry, ScriptedIntentModel(lambda _: intent("none"))).handle(
            _voice(case.text, case.area)
        )
        if "spoken" not in response.timings_ms:
            continue
        read += 1
        correct, got = judge(case, response, registry)
        if not correct:
            wrong.append((case.text, got))
    assert not wrong, wrong
    assert read >= 20, f"only {read} sentences read directly"


def test_every_demo_command_is_read_and_becomes_its_device_command() -> None:
    registry = demo_registry()
    model = ScriptedIntentModel(lambda _: intent("none"))
    planner = _planner(registry, model)
    for command in demo_commands():
        response = planner.handle(_voice(words_to_digits(command)))
        assert "spoken" in response.timings_ms, command
        assert response.status == "ok", (command, response.text)
        assert response.actions or response.about, command
    assert model.calls == []


def test_groups_and_here_are_read_with_the_satellites_area() -> None:
    planner = _planner(demo_registry(), ScriptedIntentModel(lambda _: intent("none")))
    response = planner.handle(_voice("turn off the lights in here", area="Kitchen"))
    assert response.intent == {"action": "off", "targets": ["lights in Kitchen"], "value": None}
    assert response.actions and all("kitchen" in a.device.lower() for a in response.actions)


def test_what_it_is_unsure_of_goes_to_the_model() -> None:
    """Unknown names, actions a device cannot do, phrasings without a rule, and text that
    did not come from a voice satellite."""
    registry = demo_registry()
    model = ScriptedIntentModel(lambda _: intent("none"))
    planner = _planner(registry, model)
    for text in (
        "turn on the jacuzzi",
        "lock the sofa lamp",
        "set the sofa lamp to 40 degrees",
        "could you make the sofa lamp a bit brighter",
        "what is the temperature in the kitchen",
    ):
        response = planner.handle(_voice(text))
        assert "spoken" not in response.timings_ms, text
    planner.handle(Request(text="turn off the sofa lamp"))
    assert len(model.calls) == 6
