"""A model of scripted logits for testing the generation loop without ONNX."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge_agent.llm.onnx_lm import FloatArray, KVCache

VOCAB = 32


def letters(ids: list[int]) -> str:
    """A byte-like tokenizer: token i is the letter chr(65 + i)."""
    return "".join(chr(65 + i) for i in ids)


class ScriptedLM:
    """Logits are a function of the tokens seen so far; counts what it is asked to run."""

    def __init__(self, script: Callable[[list[int]], FloatArray]) -> None:
        self.script = script
        self.tokens_run = 0
        self.calls = 0

    def empty_cache(self) -> KVCache:
        return KVCache(keys=[], values=[])

    def forward(
        self, token_ids: Sequence[int], cache: KVCache, logits_positions: int = 1
    ) -> tuple[FloatArray, KVCache]:
        self.calls += 1
        self.tokens_run += len(token_ids)
        seen = [*cache.tokens, *token_ids]
        rows = [self.script(seen[: len(seen) - i]) for i in reversed(range(logits_positions))]
        return np.stack(rows), KVCache([], [], len(seen), seen)


def counting(seen: list[int]) -> FloatArray:
    """Prefers (last token + 1) mod VOCAB, strongly."""
    logits = np.zeros(VOCAB, dtype=np.float32)
    logits[(seen[-1] + 1) % VOCAB] = 10.0
    return logits


def uniform(seen: list[int]) -> FloatArray:
    return np.zeros(VOCAB, dtype=np.float32)
