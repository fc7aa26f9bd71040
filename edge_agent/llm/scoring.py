"""Log-probabilities of candidate continuations, for choosing among a few options."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge_agent.llm.generate import CausalLM, PrefixCache, prefill
from edge_agent.llm.onnx_lm import FloatArray


def log_softmax(logits: FloatArray) -> npt.NDArray[np.float64]:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    result: npt.NDArray[np.float64] = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return result


def score_continuations(
    lm: CausalLM,
    prompt_ids: Sequence[int],
    candidates: Sequence[Sequence[int]],
    prefix_cache: PrefixCache | None = None,
) -> list[float]:
    """Total log-probability of each candidate after the prompt.

    The prompt runs once; each candidate then costs one forward pass over its own
    tokens (all but the last), with logits for every one of them.
    """
    if not prompt_ids:
        raise ValueError("the prompt is empty")
    if any(len(c) == 0 for c in candidates):
        raise ValueError("a candidate continuation is empty")
    logits, cache, _ = prefill(lm, prompt_ids, prefix_cache)
    first = log_softmax(logits[-1])
    scores: list[float] = []
    for candidate in candidates:
        total = float(first[candidate[0]])
        if len(candidate) > 1:
            inner, _ = lm.forward(candidate[:-1], cache, logits_positions=len(candidate) - 1)
            steps = log_softmax(inner)
            total += float(steps[np.arange(len(candidate) - 1), list(candidate[1:])].sum())
        scores.append(total)
    return scores
