"""What a grammar recognizer may hear: the home's command phrases, built from the registry.

The same description serves both recognizers: pocketsphinx gets a JSGF grammar (with a
loop of everyday words as the way out for speech that is not a command), vosk gets the
vocabulary as its phrase list. Names are spelled as the recognizer's dictionary spells
words; a name with a word the dictionary lacks is left out (and said so in the log), since
a recognizer cannot listen for a word it cannot pronounce.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_agent.devices.model import Action, Entity
from edge_agent.devices.values import NUMBER_WORDS

log = logging.getLogger(__name__)

_ONES = list(NUMBER_WORDS)
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

FILLER = sorted(
    set(
        [
            "a",
            "i",
            "you",
            "it",
            "of",
            "do",
            "me",
            "my",
            "we",
            "he",
            "she",
            "so",
            "no",
            "go",
            "way",
            "see",
            "say",
            "be",
            "get",
            "but",
            "not",
            "was",
            "have",
            "like",
            "know",
            "can",
            "will",
        ]
    )
)
"""Short everyday words, between them covering most English sounds: the grammar's way out.
Speech that is not a command is heard as a run of these, which the recognizer then
refuses, instead of being forced onto some command. Kept short because pocketsphinx's
grammar search slows down sharply with a long loop (300 words: minutes per sentence)."""


def number_words(value: int) -> str:
    """``42`` -> ``forty two`` (0-100), as people say numbers."""
    if value < 20:
        return _ONES[value]
    if value == 100:
        return "one hundred"
    tens, ones = divmod(value, 10)
    return _TENS[tens - 2] + ("" if ones == 0 else f" {_ONES[ones]}")


_NUMBER_WORD = re.compile(
    r"\b(?:(one hundred|hundred)|("
    + "|".join(_TENS)
    + r")(?:\s+("
    + "|".join(_ONES[1:10])
    + r"))?|("
    + "|".join(_ONES)
    + r"))\b"
)


def words_to_digits(text: str) -> str:
    """``set it to forty two percent`` -> ``set it to 42 percent``, for the planner."""

    def digits(match: re.Match[str]) -> str:
        hundred, tens, ones, single = match.groups()
        if hundred:
            return "100"
        if single:
            return str(_ONES.index(single))
        value = (_TENS.index(tens) + 2) * 10 + (_ONES.index(ones) if ones else 0)
        return str(value)

    return _NUMBER_WORD.sub(digits, text)


def spoken(text: str) -> str:
    """A name as words a recognizer listens for: lower case, digits as number words."""
    text = text.lower().replace("_", " ").replace("&", " and ")
    text = re.sub(r"\d+", lambda m: f" {number_words(min(int(m.group()), 100))} ", text)
    return " ".join(re.findall(r"[a-z']+", text))


@dataclass
class CommandGrammar:
    """The home's commands as recognizer input, rebuilt whenever the registry changes."""

    wake: str
    names: dict[str, list[str]] = field(default_factory=dict)
    """Rule name -> spoken names (devices that can do that kind of thing, or areas)."""
    version: int = -1
    degrees: tuple[int, int] = (0, 100)
    """The whole degrees some thermostat of the home can be set to: a number outside them
    ("eighty" for a heating set to 5-30 °C) is a mishearing, so the grammar leaves it out."""
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    @property
    def vocabulary(self) -> set[str]:
        words = set(" ".join(_TEMPLATE_WORDS).split()) | set(self.wake.split())
        words |= {n for value in range(101) for n in number_words(value).split()}
        for names in self.names.values():
            for name in names:
                words.update(name.split())
        return words

    def jsgf(self, wake_needed: bool = False) -> str:
        """The grammar; with ``wake_needed`` a command counts only after the wake phrase
        (outside a listening window nothing else is acted on), which leaves the decoder
        one copy of the commands to search instead of two."""
        rules = {key: " | ".join(sorted(set(names))) for key, names in self.names.items() if names}
        commands = [template for template, needs in _TEMPLATES if all(n in rules for n in needs)]
        numbers = " | ".join(number_words(value) for value in range(101))
        degrees = " | ".join(number_words(value) for value in self._degree_values())
        filler = " | ".join(w for w in FILLER if w not in self.vocabulary)
        # After the wake phrase, filler too: "hey computer, tell me a joke" is refused.
        top = "<command> | <answer> | <filler>+"
        if self.wake:
            top = "<wake> [<command> | <answer> | <filler>+] | " + (
                "<filler>+" if wake_needed else top
            )
        lines = [
            "#JSGF V1.0;",
            "grammar home;",
            f"public <utterance> = {top};",
            *([f"<wake> = {self.wake};"] if self.wake else []),
            f"<command> = [please] ({' | '.join(commands)}) [please];",
            f"<answer> = {' | '.join(ANSWERS)};",
            f"<number> = {numbers};",
            f"<degrees> = {degrees};",
            f"<filler> = {filler};",
        ]
        lines += [f"<{key}> = {alternatives};" for key, alternatives in sorted(rules.items())]
        return "\n".join(lines) + "\n"

    def matches(self, text: str) -> bool:
        """Whether ``text`` is a whole utterance of this grammar (wake phrase, command, or
        both), not just a path the decoder gave up on half way."""
        if self._pattern is None:
            rules = {key: _alternatives(names) for key, names in self.names.items() if names}
            rules["number"] = _alternatives([number_words(v) for v in range(101)])
            rules["degrees"] = _alternatives([number_words(v) for v in self._degree_values()])
            commands = [
                _regex(t, rules) for t, needs in _TEMPLATES if all(n in rules for n in needs)
            ]
            command = r"(?:please\s*)?(?:" + "|".join(commands) + r")(?:\s*please)?"
            command += "|" + _alternatives(ANSWERS)
            wake = _alternatives([self.wake]) if self.wake else ""
            self._pattern = re.compile(f"(?:{wake}\\s*)?(?:{command})|{wake}" if wake else command)
        return self._pattern.fullmatch(text) is not None

    def _degree_values(self) -> range:
        low, high = self.degrees
        return range(max(low, 0), min(high, 100) + 1)

    def phrases(self) -> list[str]:
        """Every word the vosk grammar may use, as one-word phrases plus the wake phrase."""
        return sorted(self.vocabulary)


_TEMPLATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("(turn | switch) (on | off) [the] <power>", ("power",)),
    ("(turn | switch) [the] <power> (on | off)", ("power",)),
    # Said terse, without "the": with it, "is the fan on" lost its "is" to the wake phrase
    # and came out as the command "the fan on".
    ("<power> (on | off)", ("power",)),
    ("toggle [the] <power>", ("power",)),
    ("(turn | switch) (on | off) [all] [the] (lights | light) in [the] (<area> | here)", ("area",)),
    ("(turn | switch) (on | off) everything in [the] (<area> | here)", ("area",)),
    ("(turn | switch) (on | off) all [the] lights", ()),
    ("(dim | set | turn) [the] <dimmable> to <number> [percent]", ("dimmable",)),
    (
        "(dim | set) [the] (lights | light) in [the] (<area> | here) to <number> [percent]",
        ("area",),
    ),
    ("(set | turn) [the] <thermostat> to <degrees> [degrees]", ("thermostat",)),
    ("(set | heat) [the] (<area> | temperature in here) to <degrees> [degrees]", ("area",)),
    ("(open | close | stop | raise | lower) [the] <cover>", ("cover",)),
    ("set [the] <cover> to <number> [percent]", ("cover",)),
    ("(lock | unlock) [the] <lock>", ("lock",)),
    ("(activate | start | run) [the] <scene> [scene]", ("scene",)),
    ("(press | push) [the] <button> [button]", ("button",)),
    ("set [the] <fan> [speed] to <number> [percent]", ("fan",)),
    ("(is | are) [the] <any> (on | off | open | closed | locked | unlocked)", ("any",)),
    ("what is the (temperature | humidity) in [the] (<area> | here)", ("area",)),
    ("how (warm | cold | humid) is it in [the] (<area> | here)", ("area",)),
)


def _alternatives(phrases: Iterable[str]) -> str:
    ordered = sorted(set(phrases), key=len, reverse=True)  # longest first: "lights" before "light"
    return "(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered) + ")"


def _regex(template: str, rules: dict[str, str]) -> str:
    """A JSGF-style template (``(a | b)``, ``[optional]``, ``<rule>``) as a regex."""
    out = template.replace("[", "(?:").replace("]", ")?")
    out = re.sub(r"\((?!\?)", "(?:", out)
    out = re.sub(r"\s*\|\s*", "|", out).replace(" ", r"\s*")
    return re.sub(r"<(\w+)>", lambda m: rules[m.group(1)], out)


ANSWERS = ("yes", "no", "cancel")
"""Replies to the agent's "Do you want me to ...?" (the planner's confirmations)."""

_TEMPLATE_WORDS = (
    *(re.sub(r"<\w+>|[\[\]()|]", " ", t) for t, _ in _TEMPLATES),
    "please",
    *ANSWERS,
)

_RULE_ACTIONS: dict[str, tuple[Action, ...]] = {
    "power": ("turn_on", "turn_off"),
    "dimmable": ("set_brightness",),
    "thermostat": ("set_temperature",),
    "cover": ("open", "close"),
    "lock": ("lock", "unlock"),
    "scene": ("activate",),
    "fan": ("set_fan_percentage",),
}


def build_grammar(
    entities: Iterable[Entity], wake: str, known: Callable[[str], bool], version: int = -1
) -> CommandGrammar:
    """The command grammar of these entities; ``known`` says whether the recognizer can
    pronounce a word."""
    grammar = CommandGrammar(wake=spoken(wake), version=version)
    names: dict[str, set[str]] = {key: set() for key in (*_RULE_ACTIONS, "button", "any", "area")}
    skipped: set[str] = set()
    degrees: list[tuple[int, int]] = []

    def usable(name: str) -> str | None:
        said = spoken(name)
        missing = [word for word in said.split() if not known(word)]
        if missing or not said:
            skipped.update(missing or [name])
            return None
        return said

    for entity in entities:
        said_names = [s for s in (usable(n) for n in (entity.name, *entity.aliases)) if s]
        for key, actions in _RULE_ACTIONS.items():
            if any(entity.supports(action) for action in actions):
                names[key].update(said_names)
        if entity.domain == "button":
            names["button"].update(said_names)
        names["any"].update(said_names)
        if entity.area and (area := usable(entity.area)):
            names["area"].add(area)
        if entity.supports("set_temperature"):
            bounds = entity.ranges.get("set_temperature")
            degrees.append(
                (0, 100) if bounds is None else (math.ceil(bounds.min), math.floor(bounds.max))
            )
    if skipped:
        log.warning(
            "voice grammar: words the recognizer cannot pronounce, their names left out: %s",
            ", ".join(sorted(skipped)[:20]),
        )
    grammar.names = {key: sorted(values) for key, values in names.items() if values}
    if degrees:
        grammar.degrees = (min(low for low, _ in degrees), max(high for _, high in degrees))
    return grammar
