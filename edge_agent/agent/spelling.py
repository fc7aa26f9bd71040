"""Slips of the keyboard in a home's own words, put right before retrieval and the model.

"close the kitchen radiatro", "lock the Deadoblt", "it's muggy in the half btah": the
words people mistype most are the long, rare ones, and in a home those are its device and
place names. Retrieval tolerates the slip, but the model reads the request as written
and makes more mistakes on it. So a request word that is one slip away from exactly one
word of the home's names, aliases, areas or floors is replaced by that word.

Only the slips that seldom turn one ordinary word into another are undone: two
neighbouring letters swapped, a letter dropped, a letter doubled, never in the first
letter. A changed letter ("night" / "light", "cool" / "pool") is left alone, as is a word
that is the start of the other ("light" / "lights", "close" / "closet"), a word the home
itself uses, and an ordinary word ("move" / "Movie Night", "power" / "Powder Room"): one
the model's tokenizer writes as a single token, which a slip of a rare word seldom is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from edge_agent.devices.model import Entity

MIN_LETTERS = 4
_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)
# Ordinary words for a model without a tokenizer to ask (the scripted models of tests).
_ORDINARY = frozenset({"move", "power"})

log = logging.getLogger(__name__)


def home_words(entities: Iterable[Entity]) -> frozenset[str]:
    """The words of the home's names, aliases, areas and floors, lower case."""
    phrases = [p for e in entities for p in (*e.words(), e.area or "", e.floor or "")]
    return frozenset(w for p in phrases for w in _LETTERS.findall(p.lower()))


def _slips(word: str) -> set[str]:
    """What ``word`` looks like after one slip past its first letter."""
    out = set()
    for i in range(1, len(word)):
        out.add(word[:i] + word[i + 1 :])  # dropped
        out.add(word[:i] + word[i] + word[i:])  # doubled
        if i + 1 < len(word) and word[i] != word[i + 1]:
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])  # swapped
    return out


class Speller:
    """Corrects requests against one home's words (build once per home, reuse)."""

    def __init__(self, words: Iterable[str], ordinary: Callable[[str], bool] | None = None) -> None:
        self.words = frozenset(words)
        self.ordinary = ordinary or _ORDINARY.__contains__
        """Whether a word is an ordinary word, never taken for a slip."""
        sources: dict[str, set[str]] = {}
        for word in self.words:
            if len(word) >= MIN_LETTERS:
                for slip in _slips(word):
                    sources.setdefault(slip, set()).add(word)
        self._fixes: dict[str, str] = {}
        for slip, found in sources.items():
            if len(found) > 1 or slip in self.words:
                continue  # two home words could have made it, or it is one itself
            (word,) = found
            if not (word.startswith(slip) or slip.startswith(word)):
                self._fixes[slip] = word

    def fix(self, text: str) -> str:
        def fixed(match: re.Match[str]) -> str:
            typed = match.group(0)
            lower = typed.lower()
            if len(lower) < MIN_LETTERS or lower in self.words:
                return typed
            meant = self._fixes.get(lower)
            if meant is None or self.ordinary(lower):
                return typed
            log.debug("read %r as %r", typed, meant)
            return meant.capitalize() if typed[0].isupper() else meant

        return _LETTERS.sub(fixed, text)
