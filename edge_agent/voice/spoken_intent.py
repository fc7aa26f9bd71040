"""Commands heard through the grammar recognizer, turned into intents without the model.

The grammar recognizer only hears the home's command phrases (``phrases.py``), so what it
accepts already has the structure the model would have to find: an action word, a device
or a place, a number. Reading that structure takes well under a millisecond where the
model takes ~300 ms, which is most of the time between the end of speech and the command.
Whatever this reader is not sure of (a name two devices share, a phrase it has no rule for,
an action the device cannot do) returns None and goes to the model as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.agent.intent import INTENT_ACTIONS, QUERY, Intent
from edge_agent.agent.retrieval import PLURALS
from edge_agent.agent.targets import Group
from edge_agent.devices.model import Domain, Entity
from edge_agent.voice.phrases import spoken, words_to_digits

_DROPPED = {"the", "please", "a"}


def _key(text: str) -> str:
    """Text as the recognizer says it, without the words that change nothing."""
    return " ".join(w for w in words_to_digits(spoken(text)).split() if w not in _DROPPED)


@dataclass(frozen=True)
class Shortcut:
    """An intent with the devices and groups its targets name (for the planner's resolver)."""

    intent: Intent
    candidates: list[Entity]
    groups: list[Group]


@dataclass(frozen=True)
class _Target:
    label: str
    entities: list[Entity]
    group: Group | None = None


class SpokenCommands:
    """Reads a grammar command of the home held by ``entities`` (a callable, so that it
    always sees the registry as it is now)."""

    def __init__(self, entities: Callable[[], list[Entity]]) -> None:
        self._entities = entities

    def __call__(self, text: str, here: str | None) -> Shortcut | None:
        entities = self._entities()
        said = _key(text)
        for pattern, read in _RULES:
            match = pattern.fullmatch(said)
            if match is None:
                continue
            found = read(match, _Home(entities, here))
            if found is None:
                return None
            intent, target = found
            group = [target.group] if target.group is not None else []
            candidates = [] if target.group is not None else target.entities
            return Shortcut(intent, candidates, group)
        return None


class _Home:
    def __init__(self, entities: list[Entity], here: str | None) -> None:
        self.entities = entities
        self.here = here
        self.areas = {_key(a): a for e in entities for a in (e.area, e.floor) if a}

    def place(self, said: str) -> str | None:
        if said in ("here", "in here"):
            return self.here
        return self.areas.get(said)

    def device(self, said: str) -> _Target | None:
        named = [e for e in self.entities if any(_key(n) == said for n in e.words())]
        if len(named) != 1:  # unknown, or shared by two devices: the model decides
            return None
        return _Target(named[0].name, named)

    def group(self, domain: Domain | None, place: str | None) -> _Target | None:
        if domain is None:
            label = f"everything in {place}"
        else:
            label = f"{PLURALS[domain]} in {place}" if place else f"all {PLURALS[domain]}"
        group = Group(label, domain, place)
        members = [e for e in self.entities if group.contains(e)]
        return _Target(label, members, group) if members else None

    def target(self, said: str) -> _Target | None:
        if said in ("all lights", "all light"):
            return self.group("light", None)
        if said in ("lights", "light"):  # "lights on": the lights of the room it was said in
            return self.group("light", self.here) if self.here else None
        said = said.removeprefix("all ")
        if match := re.fullmatch(r"(?:lights?|everything) in (.+)", said):
            place = self.place(match.group(1))
            if place is None:
                return None
            return self.group("light" if said.startswith("light") else None, place)
        return self.device(said)


def _able(target: _Target | None, word: str) -> _Target | None:
    if word == QUERY:
        return target
    action = INTENT_ACTIONS[word]
    if target is None or not any(e.supports(action) for e in target.entities):
        return None
    return target


Read = Callable[[re.Match[str], _Home], "tuple[Intent, _Target] | None"]


def _simple(word: str | None = None, group: int = 1) -> Read:
    """An action word (fixed, or the regex group ``group``) on the target ``t``."""

    def read(match: re.Match[str], home: _Home) -> tuple[Intent, _Target] | None:
        chosen = word or _SYNONYMS.get(match.group(group), match.group(group))
        target = _able(home.target(match.group("t")), chosen)
        return (Intent(action=chosen, targets=[target.label]), target) if target else None

    return read


_SYNONYMS = {"raise": "open", "lower": "close", "start": "activate", "run": "activate"}

_VALUE_WORDS = ("brightness", "temperature", "position", "fan_speed")


def _set_value(match: re.Match[str], home: _Home) -> tuple[Intent, _Target] | None:
    said, number, unit = match.group("t"), int(match.group("n")), match.group("u")
    target = home.target(said)
    if target is None:
        # "set the living room to 21 degrees", "heat the temperature in here to 21"
        place = home.place(said.removeprefix("temperature in "))
        target = home.group("climate", place) if place else None
    if target is None:
        return None
    words = [w for w in _VALUE_WORDS if _able(target, w)]
    if unit == "degrees" or match.group("verb") == "heat":
        words = [w for w in words if w == "temperature"]
    elif match.group("verb") == "dim":
        words = [w for w in words if w == "brightness"]
    if not words:
        return None
    return Intent(action=words[0], targets=[target.label], value=number), target


_RULES: list[tuple[re.Pattern[str], Read]] = [
    (re.compile(p), read)
    for p, read in (
        (r"(?:turn|switch) (on|off) (?P<t>.+)", _simple()),
        (r"(?:turn|switch) (?P<t>.+) (on|off)", _simple(group=2)),
        (r"toggle (?P<t>.+)", _simple("toggle")),
        (r"(?P<verb>dim|set|turn|heat) (?P<t>.+?)(?: speed)? to (?P<n>\d+)"
         r"(?: (?P<u>percent|degrees))?", _set_value),
        (r"(open|close|stop|raise|lower) (?P<t>.+)", _simple()),
        (r"(lock|unlock) (?P<t>.+)", _simple()),
        (r"(activate|start|run) (?P<t>.+?)(?: scene)?", _simple()),
        (r"(?:press|push) (?P<t>.+?)(?: button)?", _simple("activate")),
        (r"(?:is|are) (?P<t>.+) (?:on|off|open|closed|locked|unlocked)", _simple(QUERY)),
        (r"(?P<t>.+) (on|off)", _simple(group=2)),
    )
]  # fmt: skip
