"""The generation loop on token ids: prefill, decode with the KV cache, stop, constrain.

The loop knows nothing about text except through an optional ``decode`` function used
for stop strings and streaming; the model is anything with ``empty_cache`` and
``forward`` (an onnxruntime session in production, scripted logits in tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from edge_agent.llm.onnx_lm import FloatArray, KVCache
from edge_agent.llm.sampling import Sampler, SamplingParams

FinishReason = Literal["stop", "stop_string", "length", "cancelled", "grammar"]


class CausalLM(Protocol):
    def empty_cache(self) -> KVCache: ...

    def forward(
        self, token_ids: Sequence[int], cache: KVCache, logits_positions: int = 1
    ) -> tuple[FloatArray, KVCache]: ...


class Constraint(Protocol):
    """Restricts what may be generated (a grammar, a JSON schema)."""

    def forced_tokens(self) -> list[int]:
        """Tokens the grammar allows and nothing else: appended without sampling."""

    def mask(self, logits: FloatArray) -> None:
        """Set the logits of disallowed tokens to -inf, in place."""

    def advance(self, token: int) -> None:
        """Record a generated token."""

    def is_finished(self) -> bool:
        """The grammar is complete and allows nothing more."""


class GrammarError(Exception):
    """The constraint allows no token at all: the grammar cannot be satisfied."""


@dataclass
class GenerationResult:
    token_ids: list[int]
    finish_reason: FinishReason
    text: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens whose KV came from the prefix cache."""
    forced_tokens: int = 0
    """Generated tokens appended by fast-forward, without sampling."""
    prefill_s: float = 0.0
    decode_s: float = 0.0
    first_choice: dict[int, float] | None = None
    """At the first token the model chose (not forced): the probability of each token it
    could have chosen there (above 0.1 %), after the constraint's mask."""


@dataclass
class _Prefix:
    tokens: tuple[int, ...]
    cache: KVCache
    last_logits: FloatArray


class PrefixCache:
    """The KV cache of a fixed prompt prefix, computed once and shared by requests.

    A prompt that starts with the prefix is run from the stored cache, so its time to
    first token depends on its own tokens only. Setting another prefix replaces it.
    Requests extend the entry's cache one after another (with a fused graph they write
    their own positions into its buffers, past the prefix, which stays intact), so one
    entry serves any number of requests, one at a time.
    """

    def __init__(self, lm: CausalLM) -> None:
        self._lm = lm
        self._entry: _Prefix | None = None
        self._lock = threading.Lock()

    @property
    def tokens(self) -> tuple[int, ...]:
        return self._entry.tokens if self._entry else ()

    def set(self, prefix_ids: Sequence[int]) -> None:
        """Compute (or keep, if unchanged) the cache of ``prefix_ids``."""
        key = tuple(prefix_ids)
        with self._lock:
            if self._entry is not None and self._entry.tokens == key:
                return
            self._entry = None
            if key:
                logits, cache = self._lm.forward(key, self._lm.empty_cache())
                self._entry = _Prefix(key, cache, logits)

    def clear(self) -> None:
        with self._lock:
            self._entry = None

    def start(self, prompt_ids: Sequence[int]) -> tuple[KVCache, list[int], FloatArray | None]:
        """(cache to start from, tokens still to run, logits if nothing is left to run)."""
        entry = self._entry
        if entry is None or tuple(prompt_ids[: len(entry.tokens)]) != entry.tokens:
            return self._lm.empty_cache(), list(prompt_ids), None
        rest = list(prompt_ids[len(entry.tokens) :])
        return entry.cache, rest, (entry.last_logits if not rest else None)


def prefill(
    lm: CausalLM, prompt_ids: Sequence[int], prefix_cache: PrefixCache | None
) -> tuple[FloatArray, KVCache, int]:
    """Run the prompt (from the prefix cache when it applies): logits, cache, cached count."""
    if prefix_cache is not None:
        cache, rest, logits = prefix_cache.start(prompt_ids)
    else:
        cache, rest, logits = lm.empty_cache(), list(prompt_ids), None
    if logits is None:
        logits, cache = lm.forward(rest, cache)
    return logits, cache, len(prompt_ids) - len(rest)


class Generator:
    def __init__(
        self,
        lm: CausalLM,
        decode: Callable[[list[int]], str] | None = None,
        prefix_cache: PrefixCache | None = None,
    ) -> None:
        self.lm = lm
        self.decode = decode
        self.prefix_cache = prefix_cache

    def generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int,
        stop_ids: Sequence[int] = (),
        stop_strings: Sequence[str] = (),
        sampling: SamplingParams | None = None,
        constraint: Constraint | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if (stop_strings or on_text) and self.decode is None:
            raise ValueError("stop strings and streaming need a decode function")
        # Generation that reaches the end of the context stops there ("length"); a prompt
        # that does not fit is refused by the model with ContextOverflowError.
        context = getattr(self.lm, "context_length", None)
        if context is not None:
            max_new_tokens = max(0, min(max_new_tokens, context - len(prompt_ids)))
        started = time.perf_counter()
        logits, cache, cached = prefill(self.lm, prompt_ids, self.prefix_cache)
        run = _Run(
            lm=self.lm,
            decode=self.decode,
            sampler=Sampler(sampling or SamplingParams()),
            stops=frozenset(stop_ids),
            stop_strings=tuple(stop_strings),
            constraint=constraint,
            on_text=on_text,
            max_new_tokens=max_new_tokens,
            logits=logits,
            cache=cache,
            result=GenerationResult(
                [],
                "length",
                prompt_tokens=len(prompt_ids),
                cached_tokens=cached,
                prefill_s=time.perf_counter() - started,
            ),
        )
        while run.room() and run.result.finish_reason == "length":
            if cancel is not None and cancel.is_set():
                run.result.finish_reason = "cancelled"
            elif constraint is not None and constraint.is_finished():
                run.result.finish_reason = "grammar"
            elif not run.fast_forward():
                run.sample_one()
        run.finish()
        run.result.decode_s = time.perf_counter() - started - run.result.prefill_s
        return run.result


@dataclass
class _Run:
    """The state of one generation."""

    lm: CausalLM
    decode: Callable[[list[int]], str] | None
    sampler: Sampler
    stops: frozenset[int]
    stop_strings: tuple[str, ...]
    constraint: Constraint | None
    on_text: Callable[[str], None] | None
    max_new_tokens: int
    logits: FloatArray
    cache: KVCache
    result: GenerationResult
    shown: str = ""

    def room(self) -> int:
        return self.max_new_tokens - len(self.result.token_ids)

    def _needs_more(self) -> bool:
        """Whether another forward pass will be used: the last token needs none."""
        finished = self.constraint is not None and self.constraint.is_finished()
        return self.room() > 0 and not finished

    def fast_forward(self) -> bool:
        """Append the tokens the constraint forces, in one forward pass; False if none."""
        if self.constraint is None:
            return False
        forced = self.constraint.forced_tokens()[: self.room()]
        if not forced:
            return False
        for token in forced:
            self.constraint.advance(token)
        self.result.token_ids.extend(forced)
        self.result.forced_tokens += len(forced)
        if self._needs_more():
            self.logits, self.cache = self.lm.forward(forced, self.cache)
        return True

    def sample_one(self) -> None:
        row = self.logits[-1]
        if self.constraint is not None:
            row = np.array(row, dtype=np.float32)
            self.constraint.mask(row)
            if not np.isfinite(row).any():
                raise GrammarError("the grammar allows no token here; it cannot be satisfied")
        if self.result.first_choice is None:
            self.result.first_choice = _likely(row)
        token = self.sampler(row)
        if token in self.stops:
            self.result.finish_reason = "stop"
            return
        self.result.token_ids.append(token)
        if self.constraint is not None:
            self.constraint.advance(token)
        if self._check_text():
            return
        if self._needs_more():
            self.logits, self.cache = self.lm.forward([token], self.cache)

    def _check_text(self) -> bool:
        """Stream new text and look for stop strings; True when one was hit."""
        if self.decode is None or not (self.stop_strings or self.on_text):
            return False
        text = self.decode(self.result.token_ids)
        hit = _first_stop(text, self.stop_strings)
        if hit is not None:
            self.result.text = text[:hit]
            self.result.finish_reason = "stop_string"
            self._emit(text[:hit])
            return True
        # Hold back a tail that may still become a stop string, and half characters.
        safe = text[: len(text) - _pending_stop(text, self.stop_strings)]
        if "\ufffd" not in safe:
            self._emit(safe)
        return False

    def _emit(self, text: str) -> None:
        if self.on_text is not None and len(text) > len(self.shown):
            self.on_text(text[len(self.shown) :])
            self.shown = text

    def finish(self) -> None:
        if self.result.text is None and self.decode is not None:
            self.result.text = self.decode(self.result.token_ids)
            self._emit(self.result.text)  # the held-back tail, now final


def _likely(row: FloatArray, floor: float = 1e-3) -> dict[int, float]:
    finite = np.isfinite(row)
    shifted = np.where(finite, row - row[finite].max(), -np.inf).astype(np.float64)
    probs = np.exp(shifted)
    probs /= probs.sum()
    return {int(i): float(probs[i]) for i in np.flatnonzero(probs > floor)}


def _pending_stop(text: str, stop_strings: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that is the start of a stop string."""
    return max(
        (
            n
            for s in stop_strings
            for n in range(min(len(s) - 1, len(text)), 0, -1)
            if text.endswith(s[:n])
        ),
        default=0,
    )


def _first_stop(text: str, stop_strings: Sequence[str]) -> int | None:
    hits = [i for i in (text.find(s) for s in stop_strings if s) if i >= 0]
    return min(hits) if hits else None
