"""Which devices a request is probably about: a bounded list whatever the home's size.

Lexical and fuzzy matching (rapidfuzz) of the request against each entity's names,
aliases, area, floor and domain words. Typos and word order are tolerated; the model
then chooses among the top few under a grammar, so the prompt stays short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from edge_agent.devices.model import Domain, Entity
from edge_agent.devices.values import NUMBER_WORDS

DOMAIN_WORDS: dict[Domain, tuple[str, ...]] = {
    "light": ("light", "lights", "lamp", "lamps", "bulb", "bulbs", "dark", "bright", "dim",
              "colour", "color", "kelvin", "warmth"),
    "switch": ("switch", "plug", "outlet", "socket", "power"),
    "fan": ("fan", "fans", "ventilator", "breeze"),
    "cover": ("blind", "blinds", "shade", "shades", "curtain", "curtains", "shutter",
              "shutters", "cover", "garage", "awning", "window", "gate"),
    "lock": ("lock", "locked", "unlock", "door", "deadbolt"),
    "valve": ("valve", "water", "watering", "sprinkler", "irrigation", "tap"),
    "climate": ("thermostat", "heating", "heat", "temperature", "degrees", "warm", "cold",
                "cool", "hot", "ac", "air", "conditioning", "hvac", "chilly", "mode"),
    "sensor": ("temperature", "humidity", "humid", "sensor", "degrees", "reading", "level",
               "battery"),
    "binary_sensor": ("door", "window", "motion", "contact", "open", "closed", "leak",
                      "occupancy", "someone"),
    "button": ("button", "press", "ring", "doorbell"),
    "scene": ("scene", "mode", "movie", "night", "morning", "party"),
}  # fmt: skip

_DOMAIN_SETS = {domain: frozenset(words) for domain, words in DOMAIN_WORDS.items()}

PLURALS: dict[Domain, str] = {
    "light": "lights", "switch": "switches", "fan": "fans", "cover": "covers",
    "lock": "locks", "valve": "valves", "climate": "thermostats", "sensor": "sensors",
    "binary_sensor": "sensors", "button": "buttons", "scene": "scenes",
}  # fmt: skip

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Up to twelve, as the default bundle was measured: a change here changes the planner prompts
# GPTQ calibrates on, and so the int4 weights.
_DIGITS = {word: str(n) for n, word in enumerate(NUMBER_WORDS[:13])}
# Fuzzy similarity below this is mostly chance letters (a humidity sensor scored 67 on "get
# the conservatory to 77 degrees"); at full weight it outweighed the domain and area words
# and decided which of a room's devices came first, and the model mostly takes the first.
_NAME_NOISE = 85.0


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Candidates:
    entities: list[Entity]
    mentioned_areas: list[str]
    """Areas (and floors) the request names, best first."""


def _digits(norm: str) -> str:
    """Small numbers as digits: "xiaomi fan five" names Xiaomi Fan 5, not Xiaomi Fan 4."""
    return " ".join(_DIGITS.get(word, word) for word in norm.split())


def _phrase_score(text: str, phrase: str) -> float:
    """How well ``phrase`` occurs in ``text`` (0-100), tolerant of typos and word order;
    ``text`` is normalized, with digits for small numbers."""
    phrase = _digits(normalize(phrase))
    if not phrase:
        return 0.0
    if re.search(rf"\b{re.escape(phrase)}\b", text):
        return 100.0
    return max(fuzz.partial_ratio(phrase, text), fuzz.token_set_ratio(phrase, text) * 0.9)


def mentioned(text: str, names: list[str], threshold: float = 85.0) -> list[str]:
    norm = _digits(normalize(text))
    scored = [(s, n) for n in names if (s := _phrase_score(norm, n)) >= threshold]
    return [n for _, n in sorted(scored, key=lambda x: -x[0])]


def retrieve(
    text: str, entities: list[Entity], *, k: int = 8, context_area: str | None = None
) -> Candidates:
    """The ``k`` entities most likely meant, and the areas the text names."""
    norm = _digits(normalize(text))
    words = set(norm.split())
    words |= {w[:-1] for w in words if w.endswith("s")}  # "sprinklers", "doors"
    areas = sorted({e.area for e in entities if e.area} | {e.floor for e in entities if e.floor})
    named_areas = mentioned(text, areas)
    # A request that names no place is about the room it was spoken in, as much as if it
    # had named it: "it's too dark in here" has no device words, and a smaller bonus lost
    # to fuzzy name noise from other rooms, so the room was not offered.
    places = named_areas or ([context_area] if context_area else [])
    scored = []
    for entity in entities:
        name = max(_phrase_score(norm, w) for w in entity.words())
        if name < _NAME_NOISE:
            name /= 4  # still orders devices nothing else tells apart
        domain = 15.0 if words & _DOMAIN_SETS.get(entity.domain, frozenset()) else 0.0
        area = 25.0 if entity.area in places or entity.floor in named_areas else 0.0
        scored.append((name + domain + area, entity.name, entity))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return Candidates([entity for _, _, entity in scored[:k]], named_areas)
