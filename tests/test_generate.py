"""Properties of the generation loop, on scripted logits (no ONNX, milliseconds)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scripted_lm import VOCAB, ScriptedLM, counting, letters, uniform

from edge_agent.llm.generate import Generator, GrammarError, PrefixCache
from edge_agent.llm.onnx_lm import FloatArray
from edge_agent.llm.sampling import Sampler, SamplingParams


def test_greedy_is_deterministic_and_follows_the_argmax() -> None:
    gen = Generator(ScriptedLM(counting))
    first = gen.generate([3], max_new_tokens=5)
    assert first.token_ids == [4, 5, 6, 7, 8] == gen.generate([3], max_new_tokens=5).token_ids
    assert first.finish_reason == "length"


def test_same_seed_same_output_other_seed_other_output() -> None:
    gen = Generator(ScriptedLM(uniform))
    runs = [gen.generate([0], max_new_tokens=20, sampling=SamplingParams(1.0, seed=s)).token_ids
            for s in (7, 7, 8)]  # fmt: skip
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert len(set(runs[0])) > 5  # really sampled, not stuck on one token


def test_top_k_one_and_tiny_top_p_are_greedy() -> None:
    gen = Generator(ScriptedLM(counting))
    greedy = gen.generate([0], max_new_tokens=6).token_ids
    for params in (SamplingParams(2.0, top_k=1, seed=1), SamplingParams(2.0, top_p=1e-6, seed=1)):
        assert gen.generate([0], max_new_tokens=6, sampling=params).token_ids == greedy


def test_top_k_limits_the_choice() -> None:
    logits = np.arange(VOCAB, dtype=np.float32)
    sampler = Sampler(SamplingParams(temperature=5.0, top_k=3, seed=0))
    assert {sampler(logits) for _ in range(200)} == {VOCAB - 1, VOCAB - 2, VOCAB - 3}


def test_stop_id_ends_without_being_returned() -> None:
    result = Generator(ScriptedLM(counting)).generate([0], max_new_tokens=10, stop_ids=[4])
    assert result.token_ids == [1, 2, 3]
    assert result.finish_reason == "stop"


def test_stop_string_truncates_and_is_never_streamed() -> None:
    streamed: list[str] = []
    result = Generator(ScriptedLM(counting), decode=letters).generate(
        [0], max_new_tokens=10, stop_strings=["EF"], on_text=streamed.append
    )
    assert result.text == "BCD"  # B C D E F...: stops before "EF"
    assert result.finish_reason == "stop_string"
    assert "".join(streamed) == "BCD"


def test_streaming_delivers_the_whole_text() -> None:
    streamed: list[str] = []
    result = Generator(ScriptedLM(counting), decode=letters).generate(
        [0], max_new_tokens=6, stop_strings=["GZ"], on_text=streamed.append
    )
    assert "".join(streamed) == result.text == "BCDEFG"


def test_cancellation_stops_at_the_next_step() -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def on_text(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            cancel.set()

    result = Generator(ScriptedLM(counting), decode=letters).generate(
        [0], max_new_tokens=50, on_text=on_text, cancel=cancel
    )
    assert result.finish_reason == "cancelled"
    assert len(result.token_ids) == 3


def test_prefix_cache_runs_only_the_request_tokens() -> None:
    lm = ScriptedLM(counting)
    prefix = PrefixCache(lm)
    prefix.set(list(range(10)))
    gen = Generator(lm, prefix_cache=prefix)
    before = lm.tokens_run
    cached = gen.generate([*range(10), 20, 21], max_new_tokens=3)
    assert lm.tokens_run - before == 2 + 2  # the 2 request tokens, then 2 decode steps
    assert cached.cached_tokens == 10
    assert (
        cached.token_ids == Generator(lm).generate([*range(10), 20, 21], max_new_tokens=3).token_ids
    )
    other = gen.generate([5, 6], max_new_tokens=2)  # not starting with the prefix
    assert other.cached_tokens == 0 and other.token_ids == [7, 8]
    exact = gen.generate(list(range(10)), max_new_tokens=1)
    assert exact.token_ids == [10] and exact.cached_tokens == 10


def test_prefix_cache_is_replaced_when_the_prefix_changes() -> None:
    lm = ScriptedLM(counting)
    prefix = PrefixCache(lm)
    prefix.set([1, 2, 3])
    runs = lm.tokens_run
    prefix.set([1, 2, 3])
    assert lm.tokens_run == runs  # unchanged prefix: nothing recomputed
    prefix.set([4, 5])
    assert prefix.tokens == (4, 5)
    assert (
        Generator(lm, prefix_cache=prefix).generate([1, 2, 3, 9], max_new_tokens=1).cached_tokens
        == 0
    )


class OneSequence:
    """A constraint that allows exactly one token sequence, for the loop's mechanics."""

    def __init__(self, allowed: list[int], forced: range) -> None:
        self.allowed, self.forced, self.pos = allowed, forced, 0

    def forced_tokens(self) -> list[int]:
        return self.allowed[self.pos : self.forced.stop] if self.pos in self.forced else []

    def mask(self, logits: FloatArray) -> None:
        keep = logits[self.allowed[self.pos]]
        logits[:] = -np.inf
        logits[self.allowed[self.pos]] = keep

    def advance(self, token: int) -> None:
        assert token == self.allowed[self.pos]
        self.pos += 1

    def is_finished(self) -> bool:
        return self.pos == len(self.allowed)


def test_constraint_masks_and_fast_forwards_in_one_pass() -> None:
    lm = ScriptedLM(counting)
    result = Generator(lm).generate(
        [0], max_new_tokens=20, constraint=OneSequence([9, 3, 7, 7, 1, 5], forced=range(2, 5))
    )
    assert result.token_ids == [9, 3, 7, 7, 1, 5]
    assert result.finish_reason == "grammar"
    assert result.forced_tokens == 3
    # prefill; passes after 9 and 3; one pass for the 3 forced tokens; 5 ends the grammar
    assert lm.calls == 1 + 2 + 1


class Impossible(OneSequence):
    def mask(self, logits: FloatArray) -> None:
        logits[:] = -np.inf


def test_unsatisfiable_constraint_raises_instead_of_hanging() -> None:
    with pytest.raises(GrammarError):
        Generator(ScriptedLM(counting)).generate(
            [0], max_new_tokens=5, constraint=Impossible([1], forced=range(0))
        )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        Generator(ScriptedLM(counting)).generate([], max_new_tokens=1)
    with pytest.raises(ValueError):
        SamplingParams(temperature=-1)


def test_scores_rank_the_likely_continuation_first() -> None:
    from edge_agent.llm.scoring import score_continuations

    lm = ScriptedLM(counting)
    scores = score_continuations(lm, [3], [[4, 5, 6], [4, 9], [7]])
    confident = 10 - np.log(np.exp(10) + VOCAB - 1)  # log p of the preferred next token
    assert scores[0] == pytest.approx(3 * confident)
    assert scores[1] == pytest.approx(confident + (0 - np.log(np.exp(10) + VOCAB - 1)))
    assert scores[2] == pytest.approx(scores[1] - confident)


def test_the_first_free_choice_is_recorded_after_the_mask() -> None:
    # tokens 9 and 3 are forced, then the constraint allows only 7: certain, whatever
    # the model preferred; without a constraint the model's own spread is kept
    constrained = Generator(ScriptedLM(uniform)).generate(
        [0], max_new_tokens=20, constraint=OneSequence([9, 3, 7, 1], forced=range(2))
    )
    assert constrained.first_choice == {7: pytest.approx(1.0)}
    free = Generator(ScriptedLM(uniform)).generate([0], max_new_tokens=3)
    assert free.first_choice is not None and len(free.first_choice) == VOCAB
    assert sum(free.first_choice.values()) == pytest.approx(1.0)
