"""The synthetic planner sets (``edge-agent-export dataset``): sound, cleanly split, repeatable.

The checks here do not trust the generator: group labels are expanded again from the
devices' entities, values are put through the policy and rendered, intents are run through
the planner's own grammar rule, and the checks are shown to catch broken cases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.agent.evalset import Case, EvalSet, ExpectedCommand
from edge_agent.agent.intent import (
    INTENT_ACTIONS,
    Intent,
    IntentGrammar,
    TargetChoice,
)
from edge_agent.agent.planner import offered_actions
from edge_agent.agent.policy import Policy, PolicyConfig
from edge_agent.agent.retrieval import PLURALS, normalize
from edge_agent.devices.adapter import DeviceCommand
from edge_agent.devices.model import DOMAINS, VALUE_ACTIONS, Action, Domain, Entity
from edge_agent.devices.static import StaticAdapter
from edge_agent.devices.values import COLOR_OPTIONS
from edge_agent_export import dataset
from edge_agent_export.finetune import examples_from

SPLITS = dataset.SPLITS
SIZES = {"homes": 60, "train": 400, "validation": 150, "test": 150, "seed": 11}
ACTIONABLE: tuple[Domain, ...] = ("light", "switch", "fan", "cover", "lock", "valve", "climate")
WORD_ACTIONS: frozenset[Action] = frozenset({"set_color", "set_hvac_mode"})
POLICY = PolicyConfig(out_of_range="refuse", confirm_actions=[], confirm_opening=[])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dataset.Dataset]:
    out = tmp_path_factory.mktemp("dataset")
    generated = dataset.generate(
        homes=SIZES["homes"], train=SIZES["train"], validation=SIZES["validation"],
        test=SIZES["test"], seed=SIZES["seed"],
    )  # fmt: skip
    dataset.write(generated, out)
    return out, generated


@pytest.fixture(scope="module")
def sets(made: tuple[Path, dataset.Dataset]) -> dict[str, EvalSet]:
    out, _ = made
    return {split: EvalSet.load(out / f"{split}.json") for split in SPLITS}


# ------------------------------------------------------------------ an independent checker


def members(label: str, entities: list[Entity]) -> list[Entity] | None:
    """What a group label of edge_agent.agent.targets covers; None if it is not a label."""
    plural = {PLURALS[d]: d for d in ACTIONABLE}
    domain: Domain | None
    if match := re.fullmatch(r"everything in (.+)", label):
        domain, place = None, match.group(1)
    elif (match := re.fullmatch(r"all (\w+)", label)) and match.group(1) in plural:
        domain, place = plural[match.group(1)], None
    elif (match := re.fullmatch(r"(\w+) in (.+)", label)) and match.group(1) in plural:
        domain, place = plural[match.group(1)], match.group(2)
    else:
        return None
    return [
        e for e in entities
        if (e.domain == domain if domain else e.domain in ACTIONABLE)
        and (place is None or place in (e.area, e.floor))
    ]  # fmt: skip


def resolve(target: str, entities: list[Entity]) -> list[Entity]:
    by_name = {e.name: e for e in entities}
    if target in by_name:
        return [by_name[target]]
    found = members(target, entities)
    if found is None:
        raise LookupError(f"{target!r} is neither a device nor a group")
    return found


def _key(device: str, action: str, value: float | str | None) -> tuple[str, str, object]:
    return (device, action, float(value) if isinstance(value, int | float) else value)


def command_problems(case: Case, intent: Intent, entities: list[Entity]) -> list[str]:
    found: list[str] = []
    action = INTENT_ACTIONS.get(intent.action)
    if action is None:
        return [f"{intent.action!r} is not an intent action word"]
    chosen: dict[str, Entity] = {}
    for target in intent.targets:
        covered = resolve(target, entities)
        if not any(e.supports(action) for e in covered):
            found.append(f"target {target!r} cannot {action}")
        if target in {e.name for e in entities} and not covered[0].supports(action):
            found.append(f"{target!r} is named but cannot {action}")
        chosen.update({e.name: e for e in covered if e.supports(action)})
    raw = (case.intent or {}).get("value")  # as written: Intent reads 30 as 30.0
    if (problem := value_problem(action, raw)) is not None:
        found.append(problem)
    wanted = {_key(name, action, intent.value) for name in chosen}
    expected = [_key(c.device, c.action, c.value) for c in case.expect]
    if len(set(expected)) != len(expected):
        found.append("a command is expected twice")
    if set(expected) != wanted:
        found.append(
            f"expect {sorted(map(str, expected))} is not the intent's {sorted(map(str, wanted))}"
        )
    return found + execution_problems(case.expect, entities)


def value_problem(action: Action, raw: object) -> str | None:
    if action in VALUE_ACTIONS:
        return None if type(raw) is int else f"{action} needs a whole number, got {raw!r}"
    if action in WORD_ACTIONS:
        return None if isinstance(raw, str) else f"{action} needs a word, got {raw!r}"
    return None if raw is None else f"{action} takes no value, got {raw!r}"


def execution_problems(commands: list[ExpectedCommand], entities: list[Entity]) -> list[str]:
    """What the evaluation's policy (no confirmations) would not let through, or not render."""
    found: list[str] = []
    policy, adapter = Policy(POLICY), StaticAdapter()
    by_name = {e.name: e for e in entities}
    for command in commands:
        entity = by_name.get(command.device)
        if entity is None:
            found.append(f"no device {command.device!r}")
            continue
        value = float(command.value) if isinstance(command.value, int) else command.value
        decision = policy.check(entity, DeviceCommand(entity.id, command.action, value))
        if decision.verdict != "allow":
            found.append(f"the policy says {decision.verdict}: {decision.reason}")
            continue
        payloads = [m.payload for m in adapter.render(entity, decision.command)]
        if not payloads or any("{value}" in p for p in payloads):
            found.append(f"{command.device} renders {payloads}")
    return found


def case_problems(case: Case, homes: dict[str, list[Entity]]) -> list[str]:
    where = f"{case.home} {case.text!r}"
    if case.home not in homes:
        return [f"{where}: no such home"]
    if case.intent is None or list(case.intent) != ["targets", "action", "value"]:
        return [f"{where}: the intent must be targets, action, value: {case.intent}"]
    entities = homes[case.home]
    intent = Intent.model_validate(case.intent)
    found: list[str] = []
    if case.area is not None and case.area not in {e.area for e in entities}:
        found.append(f"no area {case.area!r}")
    if "in here" in case.text.lower() and case.area is None:
        found.append("says 'in here' without an area")
    try:
        choices = [TargetChoice(t, offered_actions(resolve(t, entities))) for t in intent.targets]
    except LookupError as error:
        return [f"{where}: {error}"]
    if not IntentGrammar(choices).allows(intent):
        found.append(f"the planner's grammar does not allow {case.intent}")
    if case.kind == "command":
        found += command_problems(case, intent, entities)
        found += [] if case.expect and not case.expect_query else ["command without commands"]
    elif case.kind == "query":
        names = {e.name for e in entities}
        if intent.action != "query" or not intent.targets or intent.value is not None:
            found.append(f"a query intent must name devices: {case.intent}")
        if case.expect or case.expect_query != intent.targets or set(intent.targets) - names:
            found.append(f"expect_query {case.expect_query} does not match {intent.targets}")
    elif case.expect or case.expect_query or case.intent != {
        "targets": [], "action": "none", "value": None,
    }:  # fmt: skip
        found.append("a none case must expect nothing and answer none")
    return [f"{where}: {p}" for p in found]


def problems(evalset: EvalSet) -> list[str]:
    homes = {h: [d.entity() for d in devices] for h, devices in evalset.homes.items()}
    found = [p for case in evalset.cases for p in case_problems(case, homes)]
    texts = Counter((c.home, c.text.lower()) for c in evalset.cases)
    found += [f"{key} appears twice" for key, n in texts.items() if n > 1]
    return found


# ------------------------------------------------------------------ the sets


def test_sets_load_as_evalsets_named_after_their_split(
    made: tuple[Path, dataset.Dataset], sets: dict[str, EvalSet]
) -> None:
    out, _ = made
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    for split, evalset in sets.items():
        assert evalset.name == split
        assert len(evalset.cases) == SIZES[split] == stats["splits"][split]["cases"]
        assert set(evalset.homes) == {c.home for c in evalset.cases}
        assert set(evalset.homes) <= set(stats["splits"][split]["home_ids"])
    assert set(stats["families"]) == set(dataset.FAMILIES)


@pytest.mark.parametrize("split", SPLITS)
def test_every_case_is_executable_and_matches_its_intent(
    sets: dict[str, EvalSet], split: str
) -> None:
    assert problems(sets[split]) == []


def _group_case(evalset: EvalSet) -> Case:
    return next(
        c for c in evalset.cases
        if c.kind == "command" and c.intent and len(c.expect) > 1
        and members(c.intent["targets"][0], [d.entity() for d in evalset.homes[c.home]])
    )  # fmt: skip


def _value_case(evalset: EvalSet, action: Action) -> Case:
    return next(c for c in evalset.cases if c.expect and c.expect[0].action == action)


@pytest.fixture(scope="module")
def sample(sets: dict[str, EvalSet]) -> EvalSet:
    """A few train cases, with at least one of each kind _spoil needs."""
    full = sets["train"]
    picked = [
        _group_case(full), _value_case(full, "set_brightness"), _value_case(full, "set_color"),
        next(c for c in full.cases if c.kind == "query"),
        next(c for c in full.cases if c.kind == "none"), *full.cases[:30],
    ]  # fmt: skip
    cases = list({id(c): c for c in picked}.values())
    homes = {c.home: full.homes[c.home] for c in cases}
    return EvalSet(name="sample", homes=homes, cases=cases).model_copy(deep=True)


def _spoil(evalset: EvalSet, change: str) -> None:
    group = _group_case(evalset)
    dimmed = _value_case(evalset, "set_brightness")
    coloured = _value_case(evalset, "set_color")
    query = next(c for c in evalset.cases if c.kind == "query")
    none = next(c for c in evalset.cases if c.kind == "none")
    single = next(c for c in evalset.cases if c.kind == "command" and len(c.expect) == 1)
    assert group.intent and dimmed.intent and coloured.intent and single.intent

    def out_of_range() -> None:
        dimmed.intent["value"] = 150  # type: ignore[index]
        dimmed.expect = [c.model_copy(update={"value": 150.0}) for c in dimmed.expect]

    def other_place() -> None:
        label = str(group.intent["targets"][0])  # type: ignore[index]
        areas = sorted({d.area for d in evalset.homes[group.home] if d.area})
        place = next(a for a in areas if not label.endswith(f" in {a}"))
        group.intent["targets"][0] = re.sub(r" in .+$", f" in {place}", label)  # type: ignore[index]
        if " in " not in label:
            group.intent["targets"][0] = f"everything in {place}"  # type: ignore[index]

    def here_without_area() -> None:
        single.text, single.area = "lights off in here", None

    changes: dict[str, Callable[[], object]] = {
        "a group member left out": group.expect.pop,
        "a device too many": lambda: single.expect.append(
            ExpectedCommand(device=group.expect[0].device, action=single.expect[0].action)),
        "the wrong action": lambda: setattr(single, "expect", [single.expect[0].model_copy(
            update={"action": "unlock" if single.expect[0].action != "unlock" else "lock"})]),
        "a value out of range": out_of_range,
        "a colour it cannot show": lambda: setattr(coloured, "expect", [c.model_copy(
            update={"value": "plaid"}) for c in coloured.expect]),
        "a group of another place": other_place,
        "an unknown target": lambda: single.intent["targets"].append("Hot Tub"),  # type: ignore[index]
        "a query of a missing device": lambda: query.expect_query.append("Hot Tub"),
        "none with a command": lambda: setattr(none, "expect", single.expect),
        "none with a target": lambda: none.intent["targets"].append(  # type: ignore[index]
            single.expect[0].device),
        "in here without an area": here_without_area,
        "an intent in the old key order": lambda: setattr(single, "intent", {
            k: single.intent[k] for k in ("action", "targets", "value")}),  # type: ignore[index]
    }  # fmt: skip
    changes[change]()


@pytest.mark.parametrize(
    "change",
    ["a group member left out", "a device too many", "the wrong action", "a value out of range",
     "a colour it cannot show", "a group of another place", "an unknown target",
     "a query of a missing device", "none with a command", "none with a target",
     "in here without an area", "an intent in the old key order"],
)  # fmt: skip
def test_the_checks_catch_a_broken_case(sample: EvalSet, change: str) -> None:
    evalset = sample.model_copy(deep=True)
    assert problems(evalset) == []
    _spoil(evalset, change)
    assert problems(evalset)


# ------------------------------------------------------------------ the homes


def test_homes_are_sound(made: tuple[Path, dataset.Dataset]) -> None:
    _, generated = made
    for home in generated.homes.values():
        devices = home.static_devices()
        words = [(normalize(w), d.name) for d in devices for w in [d.name, *d.aliases]]
        assert len({w for w, _ in words}) == len(words), home.id
        for a, owner in words:  # no name is a run of words of another's: "lamp", "desk lamp"
            others = [b for b, other in words if other != owner and f" {a} " in f" {b} "]
            assert not others, (home.id, a, others)
        ids = [d.entity().id for d in devices]
        assert len(set(ids)) == len(ids), home.id
        for d in devices:
            assert d.state_topic, d.name
            if d.domain in (*ACTIONABLE, "button", "scene"):
                assert d.commands, d.name
            else:
                assert not d.commands, d.name
            for action, command in d.commands.items():
                takes_value = action in VALUE_ACTIONS or action in WORD_ACTIONS
                assert ("{value}" in command.payload) == takes_value, (d.name, action)
                assert (action in d.ranges) == (action in VALUE_ACTIONS), (d.name, action)
            assert set(d.options) <= set(d.commands), d.name
            assert set(d.options.get("set_color", COLOR_OPTIONS)) <= set(COLOR_OPTIONS)


def test_homes_are_varied(made: tuple[Path, dataset.Dataset]) -> None:
    _, generated = made
    devices = [d for h in generated.homes.values() for d in h.static_devices()]
    assert {d.domain for d in devices} == set(DOMAINS)
    assert {"garage", "gate", "blind", "curtain"} <= {d.device_class for d in devices}
    assert sum(1 for h in generated.homes.values() if len(h.floors) >= 2) >= 10
    assert len({h_area for h in generated.homes.values() for h_area in h.areas}) >= 60
    names = [d.name for d in devices]
    assert any(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", n) for n in names)  # zigbee2mqtt-like
    assert any(re.search(r"\w's ", n) for n in names)  # possessive
    assert any(n.startswith(("Hue ", "Shelly ", "Nuki", "Nest")) for n in names)  # brand-like
    assert sum(1 for d in devices if d.aliases) >= 50
    modes = {m for d in devices for m in d.options.get("set_hvac_mode", [])}
    assert {"heat", "cool", "auto", "off"} <= modes
    spans = {(r.min, r.max) for d in devices for a, r in d.ranges.items() if a == "set_temperature"}
    assert {(7, 30), (16, 32)} <= spans
    assert {(2200, 6500)} <= {(r.min, r.max) for d in devices for r in d.ranges.values()}


# ------------------------------------------------------------------ the splits


def test_train_and_held_out_sets_share_no_homes_and_no_families(
    sets: dict[str, EvalSet], made: tuple[Path, dataset.Dataset]
) -> None:
    _, generated = made
    homes = {split: set(evalset.homes) for split, evalset in sets.items()}
    families = {s: {c.family.split("+")[0] for c in e.cases} for s, e in sets.items()}
    assert not homes["train"] & homes["validation"]
    assert not homes["train"] & homes["test"]
    assert not homes["validation"] & homes["test"]
    assert not families["train"] & (families["validation"] | families["test"])
    held_out = {f.id for f in dataset.FAMILIES.values() if f.split == "heldout"}
    assert families["validation"] | families["test"] <= held_out
    assert families["test"] == held_out  # every held-out family is tested
    assigned = [h for split in SPLITS for h in generated.home_split[split]]
    assert sorted(assigned) == sorted(generated.homes)
    assert len(generated.home_split["train"]) == 48


def test_every_skill_has_families_on_both_sides() -> None:
    sides: dict[str, set[str]] = {}
    for family in dataset.FAMILIES.values():
        sides.setdefault(family.skill, set()).add(family.split)
    assert sides.pop(dataset.FRAMES) == {"train"}
    assert all(s == {"train", "heldout"} for s in sides.values()), sides


def test_polite_frames_wrap_only_train_requests_of_many_skills(
    sets: dict[str, EvalSet], made: tuple[Path, dataset.Dataset]
) -> None:
    """A polite frame around a train family's request: never a held-out sentence, and spread
    over the skills, so "could you ...?" is not learnt as one skill's cue (or as a question)."""
    _, generated = made
    assert all(dataset.FAMILIES[f].split == "train" for f in dataset.WRAPPED_FAMILIES)
    polite = [m for m in generated.generated["train"] if m.case.family.startswith("polite.")]
    kinds = {m.case.family.split("+")[0]: set() for m in polite}
    for m in polite:
        kinds[m.case.family.split("+")[0]].add(str(m.case.intent and m.case.intent["action"]))
    assert len(kinds["polite.command"]) >= 8, kinds
    assert kinds["polite.none"] == {"none"} and kinds["polite.query"] == {"query"}
    held_out = {c.text.lower() for s in ("validation", "test") for c in sets[s].cases}
    assert not {m.clean_text.lower() for m in polite} & held_out


def test_reserved_vocabulary_stays_out_of_train_homes(made: tuple[Path, dataset.Dataset]) -> None:
    _, generated = made
    reserved = {a for v in dataset.RESERVED_AREAS.values() for a in v}
    reserved |= set(dataset.RESERVED_SCENES)
    for home in generated.homes.values():
        used = set(home.areas) | {d.name for d in home.devices}
        if home.split == "train":
            assert not used & reserved, home.id
            assert not {p for p in dataset.RESERVED_PERSONS if p in home.persons}, home.id
    held = [h for h in generated.homes.values() if h.split != "train"]
    assert any((set(h.areas) | {d.name for d in h.devices}) & reserved for h in held)


@pytest.mark.parametrize("split", SPLITS)
def test_every_kind_and_value_action_in_every_split(sets: dict[str, EvalSet], split: str) -> None:
    cases = sets[split].cases
    assert {c.kind for c in cases} == {"command", "query", "none"}
    actions = {c.action for case in cases for c in case.expect}
    assert actions >= VALUE_ACTIONS | WORD_ACTIONS
    assert {"turn_on", "turn_off", "open", "close", "lock", "activate"} <= actions
    entities = {h: [d.entity() for d in devices] for h, devices in sets[split].homes.items()}
    labels = [t for c in cases if c.intent for t in c.intent["targets"]
              if members(str(t), entities[c.home]) is not None]  # fmt: skip
    assert any(t.startswith("all ") for t in labels)
    assert any(t.startswith("everything in ") for t in labels)
    assert sum(1 for c in cases if c.intent and len(c.intent["targets"]) > 1) >= 3
    assert sum(1 for c in cases if "in here" in c.text.lower()) >= 3
    words = re.compile(r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b")
    assert any(words.search(c.text.lower()) for c in cases)


def test_in_here_means_the_satellites_area(sets: dict[str, EvalSet]) -> None:
    here = [c for e in sets.values() for c in e.cases if "in here" in c.text.lower()]
    assert here
    for case in here:
        assert case.intent and case.area
        for target in case.intent["targets"]:
            label = re.fullmatch(r"\w+ in (.+)", str(target))
            if label:
                assert label.group(1) == case.area, case.text


def test_none_cases_name_nothing_of_their_home(sets: dict[str, EvalSet]) -> None:
    for evalset in sets.values():
        for case in evalset.cases:
            if case.kind != "none":
                continue
            text = f" {normalize(case.text)} "
            for device in evalset.homes[case.home]:
                for name in [device.name, *device.aliases]:
                    assert f" {normalize(name)} " not in text, (case.text, name)


def test_near_miss_none_cases_pair_a_real_area_with_a_kind_it_lacks(
    sets: dict[str, EvalSet],
) -> None:
    """ "turn on the bathroom fan" when the home's fans are elsewhere: the area exists, the
    kind of device exists, but not together, so nothing may be done."""
    cases = [c for c in sets["train"].cases if c.family == "none.missing_in_area"]
    assert cases, "the family made no case"
    for case in cases:
        devices = [d.entity() for d in sets["train"].homes[case.home]]
        text = f" {normalize(case.text)} "
        named = [a for a in {d.area for d in devices if d.area} if f" {normalize(a)} " in text]
        assert named, case.text  # a real area of the home, said as it is
        for area in named:
            here = {d.domain for d in devices if d.area == area}
            elsewhere = {d.domain for d in devices if d.area != area}
            assert elsewhere - here, (case.text, area)


# ------------------------------------------------------------------ typos and numbers


def _one_edit(a: str, b: str) -> bool:
    """``b`` is ``a`` with two letters swapped, one dropped or one doubled."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
    short, long_ = sorted((a, b), key=len)
    return len(long_) == len(short) + 1 and any(
        long_[:i] + long_[i + 1 :] == short for i in range(len(long_))
    )


def test_some_cases_have_typos_in_device_or_place_words(made: tuple[Path, dataset.Dataset]) -> None:
    _, generated = made
    made_cases = [m for split in SPLITS for m in generated.generated[split]]
    typos = [m for m in made_cases if m.typo]
    assert len(typos) >= 0.05 * len(made_cases)
    for m in made_cases:
        assert m.case.family.endswith("+typo") == m.typo
        assert (m.case.text != m.clean_text) == m.typo
    for m in typos:
        old, new = m.clean_text.split(), m.case.text.split()
        assert len(old) == len(new), m.case.text
        changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        assert 1 <= len(changed) <= 2, m.case.text
        assert all(_one_edit(a, b) for a, b in changed), (m.clean_text, m.case.text)


def test_number_words() -> None:
    assert dataset.number_words(21) == "twenty-one"
    assert dataset.number_words(21, hyphen=False) == "twenty one"
    assert dataset.number_words(40) == "forty"
    assert dataset.number_words(100) == "one hundred"
    assert dataset.number_words(2700) == "two thousand seven hundred"
    assert dataset.number_words(2700, hundreds=True) == "twenty-seven hundred"
    assert dataset.number_words(3000, hundreds=True) == "three thousand"


# ------------------------------------------------------------------ repeatability and the CLI

SMALL = ["--homes", "8", "--train", "40", "--validation", "15", "--test", "15"]


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    assert dataset.main([*SMALL, "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    # another process, another hash seed: nothing may depend on set or dict hashing order
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    code = "import sys; from edge_agent_export.dataset import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run(
        [sys.executable, "-c", code, *SMALL, "--seed", "5", "--out", str(tmp_path / "b")],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    assert dataset.main([*SMALL, "--seed", "6", "--out", str(tmp_path / "c")]) == 0
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["train.json"] != files(tmp_path / "c")["train.json"]


def test_cli_writes_the_sets_and_reports_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dataset.main([*SMALL, "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stats.json", "test.json", "train.json", "validation.json",
    ]  # fmt: skip
    err = capsys.readouterr().err
    assert "8 homes" in err
    assert "wrote" in err
    assert dataset.main(["--homes", "2", "--out", str(tmp_path / "x")]) == 2


def test_train_teaches_the_knowledge_that_held_out_families_test(sets: dict[str, EvalSet]) -> None:
    """Held-out families change the wording, not what must be known: lists of three or four
    devices, fractions of a cover's travel, named fan speeds, "too warm -> the fans" and a
    room's only thermostat or sprinkler named by its room are all in train too, so the
    held-out sets measure generalization over phrasing."""
    train = [c for c in sets["train"].cases if c.intent]
    assert any(len(c.intent["targets"]) >= 3 for c in train if c.intent)
    fractions = re.compile(r"\b(half|halfway|quarter|quarters)\b")
    positions = {c.intent["value"] for c in train if c.intent
                 and c.intent["action"] == "position"
                 and fractions.search(c.text.lower())}  # fmt: skip
    assert positions >= {25, 50, 75}
    assert any(c.intent["action"] == "fan_speed" and c.intent["value"] == 100
               and not re.search(r"\d|hundred", c.text) for c in train if c.intent)  # fmt: skip
    warm = re.compile(r"\b(hot|warm|roasting|stale|breeze|sweltering)\b")
    assert any(c.intent["action"] == "on" and str(c.intent["targets"][0]).startswith("fans in ")
               and warm.search(c.text.lower()) for c in train if c.intent)  # fmt: skip
    # A room's only thermostat or sprinkler named by its room: "cooling mode in the study",
    # "the lawn needs watering".
    by_room = [c for c in train if c.intent and len(c.intent["targets"]) == 1
               and str(c.intent["targets"][0]).lower() not in c.text.lower()]  # fmt: skip
    assert any(c.intent["action"] == "mode" for c in by_room if c.intent)
    assert any(c.intent["action"] in ("open", "close") and re.search(r"\bwater", c.text.lower())
               for c in by_room if c.intent)  # fmt: skip
    # A question that asks for lights or fans ("why is it so dark in here?"), a wish or a
    # question that carries a value ("any chance the nest could be at 21?"), and out-of-scope
    # requests with a number in them ("snooze for ten minutes") or only courtesy ("thanks").
    assert any(c.intent["action"] == "on" and c.text.rstrip(".!").endswith("?")
               and re.match(r"(lights|fans) in ", str(c.intent["targets"][0]))
               for c in train if c.intent)  # fmt: skip
    values = ("brightness", "temperature", "warmth", "color", "position")
    assert any(c.intent["action"] in values and c.text.rstrip(".!").endswith("?")
               and not re.match(r"(please )?(could|can|would|will) you", c.text.lower())
               for c in train if c.intent)  # fmt: skip
    # A state question about the satellite's own room is a question, not a command ("is the
    # light on in here?"), and a wish can ask for a mode ("I'd prefer the AC on cooling").
    assert any(c.kind == "query" and c.area and "in here" in c.text.lower() for c in train)
    assert any(c.intent["action"] == "mode"
               and re.search(r"\b(want|prefer|should|how about|any chance)\b", c.text.lower())
               for c in train if c.intent)  # fmt: skip
    none = [c.text.lower() for c in sets["train"].cases if c.intent and
            c.intent["action"] == "none" and not c.intent["targets"]]  # fmt: skip
    clocks = re.compile(r"\b(minutes|snooze|stopwatch|count down|wake-up call|volume|louder)\b")
    assert any(clocks.search(t) for t in none)
    assert any(re.match(r"(thanks|cheers|good (morning|night)|hello|never mind|see you)\b", t)
               for t in none)  # fmt: skip


def test_the_planner_offers_nearly_every_expected_answer(sets: dict[str, EvalSet]) -> None:
    """Retrieval and groups must put each request's answer in front of the model: one it
    is not offered cannot be learned or answered. (Before the room a request came from
    counted as named, 4 of these 150 validation requests were not offered theirs.)"""
    for name, evalset in sets.items():
        _, not_offered = examples_from(evalset)
        assert not_offered <= len(evalset.cases) // 100, (name, not_offered)
