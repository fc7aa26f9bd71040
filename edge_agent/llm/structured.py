"""JSON answers from a bundle: a cached prompt prefix and output constrained by a grammar."""

from __future__ import annotations

import threading

from edge_agent.llm.constraints import GrammarConstraint, lark_grammar
from edge_agent.llm.generate import GenerationResult, Generator, PrefixCache
from edge_agent.llm.sampling import SamplingParams
from edge_agent.llm.text import TextModel

MAX_JSON_TOKENS = 128


class JsonModel:
    """``complete_json(prefix, request, grammar)`` on one bundle, one request at a time.

    The prefix is tokenized on its own and its KV cache kept until the prefix text
    changes, so a request costs only its own tokens; the request is tokenized on its
    own too, which is how the planner's training data must be tokenized as well.
    """

    def __init__(
        self,
        model: TextModel,
        max_new_tokens: int = MAX_JSON_TOKENS,
        sampling: SamplingParams | None = None,
    ) -> None:
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.sampling = sampling or SamplingParams()  # greedy
        self.prefix_cache = PrefixCache(model.lm)
        self.generator = Generator(
            model.lm, decode=model.tokenizer.decode, prefix_cache=self.prefix_cache
        )
        self._prefix: tuple[str, list[int]] | None = None
        self._lock = threading.Lock()
        self.last: GenerationResult | None = None

    def _prefix_ids(self, prefix: str) -> list[int]:
        if self._prefix is None or self._prefix[0] != prefix:
            tokens = self.model.bundle.manifest.tokens
            bos = [tokens.bos_id] if tokens.add_bos and tokens.bos_id is not None else []
            ids = bos + list(self.model.tokenizer.encode(prefix, add_special_tokens=False).ids)
            self.prefix_cache.set(ids)
            self._prefix = (prefix, ids)
        return self._prefix[1]

    def warm_up(self, prefix: str) -> None:
        """Compute the prefix's KV cache now rather than on the first request."""
        with self._lock:
            self._prefix_ids(prefix)

    def complete_json(self, prefix: str, request: str, grammar: str) -> str:
        """Greedy (by default) output of ``grammar``, an llguidance Lark grammar."""
        with self._lock:
            ids = self._prefix_ids(prefix)
            ids = ids + list(self.model.tokenizer.encode(request, add_special_tokens=False).ids)
            constraint = GrammarConstraint(self.model.grammar_tokenizer(), lark_grammar(grammar))
            self.last = self.generator.generate(
                ids,
                max_new_tokens=self.max_new_tokens,
                constraint=constraint,
                sampling=self.sampling,
            )
            return self.last.text or ""

    def is_word(self, word: str) -> bool:
        """Whether the tokenizer writes the word, after a space, as one token: a common
        word of its training text (a mistyped name seldom is)."""
        return len(self.model.tokenizer.encode(f" {word}", add_special_tokens=False).ids) == 1

    def first_choice(self) -> dict[str, float]:
        """The last answer's first token the model chose rather than the grammar forced:
        the text of each token it could have chosen there, and its probability."""
        choice = self.last.first_choice if self.last is not None else None
        decode = self.model.tokenizer.decode
        return {decode([token]): p for token, p in (choice or {}).items()}
