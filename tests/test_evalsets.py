"""The built-in evaluation sets are sound: every expected command could be carried out.

Each set loads; each case names a home of its set; each expected device exists there,
has a command for the expected action, and gets a value inside its range or options;
query cases name existing devices; ``none`` cases expect nothing. The hand-written set is
also held to its size, its mix of kinds and families, and to group cases that are exactly
what "lights in X" or "everything in X" means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from edge_agent.agent.evalset import Case, EvalSet, ExpectedCommand, builtin_sets
from edge_agent.agent.policy import Policy, PolicyConfig
from edge_agent.agent.targets import Group
from edge_agent.devices.adapter import DeviceCommand
from edge_agent.devices.model import ACTIONS, VALUE_ACTIONS, Action
from edge_agent.devices.static import StaticAdapter, StaticDevice

WORD_ACTIONS: frozenset[Action] = frozenset({"set_color", "set_hvac_mode"})
"""Actions whose value is a word (a colour, an HVAC mode) rather than a number."""

SETS = builtin_sets()
HANDWRITTEN = "handwritten"


def _load(name: str) -> EvalSet:
    return EvalSet.load(SETS[name])


def _areas(devices: list[StaticDevice]) -> set[str]:
    return {d.area for d in devices if d.area}


def _floors(devices: list[StaticDevice]) -> set[str]:
    return {d.floor for d in devices if d.floor}


def _value_problem(device: StaticDevice, command: ExpectedCommand) -> str | None:
    action, value = command.action, command.value
    problem = None
    if action in VALUE_ACTIONS:
        bounds = device.ranges.get(action)
        if bounds is None:
            problem = f"{device.name} has no range for {action}"
        elif not isinstance(value, (int, float)):
            problem = f"{action} needs a number, got {value!r}"
        elif not bounds.contains(float(value)):
            problem = f"{value:g} is outside {bounds.min:g}-{bounds.max:g} for {device.name}"
    elif action in WORD_ACTIONS:
        options = device.options.get(action)
        if not isinstance(value, str):
            problem = f"{action} needs a word, got {value!r}"
        elif options is not None and value not in options:
            problem = f"{value!r} is not one of {device.name}'s {action} options {options}"
    elif value is not None:
        problem = f"{action} takes no value, got {value!r}"
    return problem


def home_problems(home: str, devices: list[StaticDevice]) -> list[str]:
    found: list[str] = []
    names = Counter(d.name.lower() for d in devices)
    found += [f"{home}: two devices are named {n!r}" for n, k in names.items() if k > 1]
    ids = Counter(d.entity().id for d in devices)
    found += [f"{home}: two devices have the id {i!r}" for i, k in ids.items() if k > 1]
    for device in devices:
        where = f"{home}/{device.name}"
        for alias in device.aliases:
            if alias.lower() in names and alias.lower() != device.name.lower():
                found.append(f"{where}: alias {alias!r} is another device's name")
        for action in device.commands:
            if action in VALUE_ACTIONS and action not in device.ranges:
                found.append(f"{where}: {action} has no range")
        for action in [*device.ranges, *device.options]:
            if action not in device.commands:
                found.append(
                    f"{where}: a range or options for {action}, which it has no command for"
                )
    return found


def case_problems(number: int, case: Case, homes: dict[str, list[StaticDevice]]) -> list[str]:
    where = f"case {number} ({case.text!r})"
    devices = homes.get(case.home)
    if devices is None:
        return [f"{where}: no home {case.home!r}"]
    found: list[str] = []
    by_name = {d.name: d for d in devices}
    if case.area is not None and case.area not in _areas(devices):
        found.append(f"{where}: {case.home} has no area {case.area!r}")
    if case.kind == "command":
        if not case.expect or case.expect_query:
            found.append(f"{where}: a command case needs expect and no expect_query")
        pairs = Counter((c.device, c.action) for c in case.expect)
        found += [f"{where}: {p} expected twice" for p, k in pairs.items() if k > 1]
        for command in case.expect:
            device = by_name.get(command.device)
            if device is None:
                found.append(f"{where}: no device {command.device!r} in {case.home}")
            elif command.action not in device.commands:
                found.append(f"{where}: {device.name} has no command for {command.action}")
            elif (problem := _value_problem(device, command)) is not None:
                found.append(f"{where}: {problem}")
    elif case.kind == "query":
        if not case.expect_query or case.expect:
            found.append(f"{where}: a query case needs expect_query and no expect")
        if len(set(case.expect_query)) != len(case.expect_query):
            found.append(f"{where}: a device asked about twice")
        found += [f"{where}: no device {n!r} in {case.home}"
                  for n in case.expect_query if n not in by_name]  # fmt: skip
    elif case.expect or case.expect_query:
        found.append(f"{where}: a none case expects nothing")
    return found


def problems(evalset: EvalSet) -> list[str]:
    found = [p for home, devices in evalset.homes.items() for p in home_problems(home, devices)]
    for number, case in enumerate(evalset.cases):
        found += case_problems(number, case, evalset.homes)
    return found


def test_there_are_builtin_sets() -> None:
    assert HANDWRITTEN in SETS
    assert all(path.suffix == ".json" and path.is_file() for path in SETS.values())


@pytest.mark.parametrize("name", sorted(SETS))
def test_builtin_set_loads_and_every_expectation_is_executable(name: str) -> None:
    evalset = _load(name)
    assert evalset.homes
    assert evalset.cases
    assert problems(evalset) == []


@pytest.mark.parametrize("name", sorted(SETS))
def test_builtin_set_commands_pass_the_policy_and_render(name: str) -> None:
    """What the evaluation's policy (no confirmations) would let through, rendered to MQTT."""
    evalset = _load(name)
    policy = Policy(PolicyConfig(out_of_range="refuse", confirm_actions=[], confirm_opening=[]))
    adapter = StaticAdapter()
    for case in evalset.cases:
        entities = {d.name: d.entity() for d in evalset.homes[case.home]}
        for expected in case.expect:
            entity = entities[expected.device]
            value = float(expected.value) if isinstance(expected.value, int) else expected.value
            decision = policy.check(entity, DeviceCommand(entity.id, expected.action, value))
            assert decision.verdict == "allow", (case.text, decision.reason)
            messages = adapter.render(entity, decision.command)
            assert messages, case.text
            assert all("{value}" not in m.payload for m in messages), case.text


# ------------------------------------------------------------------ the checks can fail


def _with(
    device: StaticDevice | None, action: Action, value: float | str | None = None
) -> list[ExpectedCommand]:
    assert device is not None
    return [ExpectedCommand(device=device.name, action=action, value=value)]


def _able(devices: list[StaticDevice], action: Action) -> StaticDevice | None:
    return next((d for d in devices if action in d.commands), None)


def _break(evalset: EvalSet, change: str) -> None:
    """Spoil one thing in ``evalset`` (a copy of the hand-written set)."""
    command = next(c for c in evalset.cases if c.kind == "command" and len(c.expect) == 1)
    first = command.expect[0]
    devices = evalset.homes[command.home]
    query = next(c for c in evalset.cases if c.kind == "query")
    none = next(c for c in evalset.cases if c.kind == "none")
    dimmable = next(d for d in devices if "set_brightness" in d.ranges)
    changes: dict[str, Callable[[], object]] = {
        "unknown home": lambda: setattr(command, "home", "castle"),
        "unknown area": lambda: setattr(command, "area", "Ballroom"),
        "unknown device": lambda: setattr(command, "expect", [
            first.model_copy(update={"device": "Jacuzzi"})]),
        "unsupported action": lambda: setattr(command, "expect", [
            first.model_copy(update={"action": "unlock", "value": None})]),
        "out of range": lambda: setattr(command, "expect", _with(
            dimmable, "set_brightness", 150)),
        "missing value": lambda: setattr(command, "expect", _with(dimmable, "set_brightness")),
        "word not an option": lambda: setattr(command, "expect", _with(
            _able(devices, "set_color"), "set_color", "plaid")),
        "value on a plain action": lambda: setattr(command, "expect", _with(
            _able(devices, "turn_on"), "turn_on", 3)),
        "empty command": lambda: setattr(command, "expect", []),
        "query of a missing device": lambda: query.expect_query.append("Hot Tub"),
        "none with an expectation": lambda: setattr(none, "expect", [first]),
        "duplicate name": lambda: devices.append(devices[0].model_copy(deep=True)),
        "value action without range": lambda: dimmable.ranges.pop("set_brightness"),
        "alias is another name": lambda: devices[0].aliases.append(devices[1].name.upper()),
    }  # fmt: skip
    changes[change]()


CHANGES = [
    "unknown home", "unknown area", "unknown device", "unsupported action", "out of range",
    "missing value", "word not an option", "value on a plain action", "empty command",
    "query of a missing device", "none with an expectation", "duplicate name",
    "value action without range", "alias is another name",
]  # fmt: skip


@pytest.mark.parametrize("change", CHANGES)
def test_the_checks_find_a_broken_set(change: str) -> None:
    evalset = _load(HANDWRITTEN)
    assert problems(evalset) == []
    _break(evalset, change)
    assert problems(evalset)


# ------------------------------------------------------------------ the hand-written set

FAMILIES = {
    "plain", "polite", "terse", "indirect", "typo", "numbers-as-words", "in-here", "multi",
    "group", "floor", "alias", "value", "word-order", "query", "out-of-scope", "unknown-device",
}  # fmt: skip


@pytest.fixture(scope="module")
def handwritten() -> EvalSet:
    return _load(HANDWRITTEN)


def test_handwritten_size_and_mix(handwritten: EvalSet) -> None:
    kinds = Counter(c.kind for c in handwritten.cases)
    assert len(handwritten.cases) >= 230
    assert kinds["command"] >= 140
    assert kinds["query"] >= 35
    assert kinds["none"] >= 55
    multi = [c for c in handwritten.cases if len(c.expect) > 1]
    assert len(multi) >= 25
    assert sum(len(c.expect_query) > 1 for c in handwritten.cases) >= 2
    families = Counter(c.family for c in handwritten.cases)
    assert set(families) == FAMILIES
    assert all(count >= 3 for count in families.values()), families


def test_handwritten_homes(handwritten: EvalSet) -> None:
    assert set(handwritten.homes) == {"flat", "family_house", "zigbee_home", "cottage"}
    for home, devices in handwritten.homes.items():
        assert 12 <= len(devices) <= 25, home
        cases = [c for c in handwritten.cases if c.home == home]
        assert len(cases) >= 50, home
        assert {c.kind for c in cases} == {"command", "query", "none"}, home
        texts = Counter(c.text.lower() for c in cases)
        assert [t for t, k in texts.items() if k > 1] == [], home
    assert _floors(handwritten.homes["family_house"]) == {"Ground Floor", "Upstairs"}
    cottage = _areas(handwritten.homes["cottage"])
    assert {"Conservatory", "Mudroom", "Snug", "Workshop"} <= cottage


def test_handwritten_devices_are_complete(handwritten: EvalSet) -> None:
    for home, devices in handwritten.homes.items():
        for device in devices:
            where = f"{home}/{device.name}"
            if device.domain in ("sensor", "binary_sensor"):
                assert not device.commands, where
                assert device.state_topic, where
                continue
            assert device.commands, where
            for action, command in device.commands.items():
                takes_value = action in VALUE_ACTIONS or action in WORD_ACTIONS
                assert ("{value}" in command.payload) == takes_value, (where, action)
            for action in WORD_ACTIONS & set(device.commands):
                assert device.options.get(action), (where, action)


def test_handwritten_covers_every_action(handwritten: EvalSet) -> None:
    expected = {c.action for case in handwritten.cases for c in case.expect}
    assert expected == set(ACTIONS)


def test_handwritten_commands_are_one_intent(handwritten: EvalSet) -> None:
    """Each request asks for one thing (one action, one value), maybe of several devices."""
    for case in handwritten.cases:
        if case.kind == "command":
            assert len({(c.action, c.value) for c in case.expect}) == 1, case.text
        for command in case.expect:
            if isinstance(command.value, float):
                assert command.value.is_integer(), case.text  # the planner speaks integers


def test_handwritten_families_fit_their_kinds(handwritten: EvalSet) -> None:
    for case in handwritten.cases:
        if case.family == "query":
            assert case.kind == "query", case.text
        if case.family in ("out-of-scope", "unknown-device"):
            assert case.kind == "none", case.text
        if case.kind == "none":
            assert case.family in ("out-of-scope", "unknown-device"), case.text
        if case.family in ("group", "floor", "multi"):
            assert case.kind == "command", case.text
        if case.family == "multi":
            assert len(case.expect) > 1, case.text
        if case.family == "in-here":
            assert case.area is not None, case.text


def _group_for(case: Case, devices: list[StaticDevice]) -> Group | None:
    """The group whose members that can do the case's action are exactly the expected
    devices: a domain, or everything, in the place the text names (an area or a floor),
    else in the case's area ("in here"), else across the home."""
    entities = [d.entity() for d in devices]
    action = case.expect[0].action
    wanted = {c.device for c in case.expect}
    places = sorted(_areas(devices) | _floors(devices))
    named: list[str | None] = [p for p in places if p.lower() in case.text.lower()]
    for place in named or [case.area]:
        for domain in [None, *sorted({e.domain for e in entities})]:
            group = Group("", domain, place)
            members = {e.name for e in entities if group.contains(e) and e.supports(action)}
            if members == wanted:
                return group
    return None


def _group_cases(evalset: EvalSet) -> list[Case]:
    return [
        c
        for c in evalset.cases
        if c.family in ("group", "floor") or (c.family == "in-here" and len(c.expect) > 1)
    ]


def test_handwritten_group_cases_are_whole_groups(handwritten: EvalSet) -> None:
    groups = _group_cases(handwritten)
    assert len(groups) >= 20
    floors = 0
    for case in groups:
        devices = handwritten.homes[case.home]
        group = _group_for(case, devices)
        assert group is not None, f"{case.text!r} is not every device of a group"
        if case.family == "floor":
            assert group.place in _floors(devices), case.text
            floors += 1
    assert floors >= 3


@pytest.mark.parametrize("text", ["close all the blinds", "lights off in the living room"])
def test_a_partial_group_is_caught(handwritten: EvalSet, text: str) -> None:
    case = next(c for c in handwritten.cases if c.text == text)
    devices = handwritten.homes[case.home]
    assert _group_for(case, devices) is not None
    for left_out in range(len(case.expect)):
        partial = case.model_copy(
            update={"expect": case.expect[:left_out] + case.expect[left_out + 1 :]}
        )
        assert _group_for(partial, devices) is None, left_out
