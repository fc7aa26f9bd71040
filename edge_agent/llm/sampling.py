"""Choosing the next token from logits: greedy, or seeded temperature / top-k / top-p."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    """0 means greedy (argmax); above 0, logits are divided by it before sampling."""
    top_k: int = 0
    """Keep only the k most likely tokens (0: all)."""
    top_p: float = 1.0
    """Keep the smallest set of tokens whose probability reaches p (1.0: all)."""
    seed: int | None = None
    """Seed of the sampler's random generator; the same seed gives the same output."""

    def __post_init__(self) -> None:
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"invalid sampling parameters: {self}")


class Sampler:
    """Stateful: one random generator per generation, seeded from the params."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self._rng = np.random.default_rng(params.seed)

    def __call__(self, logits: npt.NDArray[np.float32]) -> int:
        """Pick a token id; disallowed tokens carry -inf and are never picked."""
        params = self.params
        if params.temperature == 0.0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / params.temperature
        candidates = np.flatnonzero(np.isfinite(scaled))
        if candidates.size == 0:
            raise ValueError("no token has a finite logit")
        values = scaled[candidates]
        if 0 < params.top_k < candidates.size:
            keep = np.argpartition(-values, params.top_k - 1)[: params.top_k]
            candidates, values = candidates[keep], values[keep]
        order = np.argsort(-values, kind="stable")
        candidates, values = candidates[order], values[order]
        probs = np.exp(values - values[0])
        probs /= probs.sum()
        if params.top_p < 1.0:
            cutoff = int(np.searchsorted(np.cumsum(probs), params.top_p)) + 1
            candidates, probs = candidates[:cutoff], probs[:cutoff] / probs[:cutoff].sum()
        return int(candidates[self._rng.choice(candidates.size, p=probs)])
