"""The decoder graph stepped with a KV cache agrees with itself run whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.onnx_lm import OnnxCausalLM

TOKENS = [5, 17, 42, 8, 99, 3, 250, 61, 7, 12, 33, 120]


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_cached_steps_equal_one_full_pass(
    model_type: str, tiny_bundle: Callable[[str, str], Path]
) -> None:
    lm = OnnxCausalLM(open_bundle(tiny_bundle(model_type, "fp32")))
    whole, _ = lm.forward(TOKENS, lm.empty_cache(), logits_positions=len(TOKENS))
    assert whole.shape == (len(TOKENS), lm.manifest.architecture.vocab_size)

    prefix, cache = lm.forward(TOKENS[:5], lm.empty_cache())
    stepped = [prefix[-1]]
    for token in TOKENS[5:-1]:
        logits, cache = lm.forward([token], cache)
        stepped.append(logits[-1])
    np.testing.assert_allclose(np.stack(stepped), whole[4:-1], rtol=1e-4, atol=1e-4)
    assert cache.length == len(TOKENS) - 1


def test_generation_graph_returns_only_the_last_position(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    lm = OnnxCausalLM(open_bundle(tiny_bundle("llama", "int4")))
    logits, cache = lm.forward(TOKENS, lm.empty_cache())
    assert logits.shape[0] == 1
    assert cache.length == len(TOKENS)


def test_scores_equal_a_full_pass(tiny_bundle: Callable[[str, str], Path]) -> None:
    from edge_agent.llm.generate import PrefixCache
    from edge_agent.llm.scoring import log_softmax, score_continuations

    lm = OnnxCausalLM(open_bundle(tiny_bundle("llama", "fp32")))
    prompt, candidates = TOKENS[:6], [TOKENS[6:9], [40, 41], [7]]
    prefix = PrefixCache(lm)
    prefix.set(TOKENS[:4])
    for cache in (None, prefix):
        scores = score_continuations(lm, prompt, candidates, prefix_cache=cache)
        for candidate, score in zip(candidates, scores, strict=True):
            ids = [*prompt, *candidate]
            logits, _ = lm.forward(ids, lm.empty_cache(), logits_positions=len(ids))
            steps = log_softmax(logits[len(prompt) - 1 : -1])
            expected = steps[np.arange(len(candidate)), candidate].sum()
            assert score == pytest.approx(expected, abs=1e-3)


def test_a_prompt_longer_than_the_context_is_a_clear_error(
    tiny_bundle: Callable[[str, str], Path],
) -> None:
    from edge_agent.llm.generate import Generator
    from edge_agent.llm.onnx_lm import ContextOverflowError

    lm = OnnxCausalLM(open_bundle(tiny_bundle("llama", "int4")))
    too_long = [5] * (lm.context_length + 1)
    with pytest.raises(ContextOverflowError, match="do not fit in the model's context of 256"):
        Generator(lm).generate(too_long, max_new_tokens=4)
    # generation that runs into the end of the context stops there
    result = Generator(lm).generate([5] * (lm.context_length - 2), max_new_tokens=10)
    assert result.finish_reason == "length" and len(result.token_ids) == 2


@pytest.mark.parametrize(
    ("model_type", "graph"), [("llama", "fused"), ("gemma3_text", "fused"), ("llama", "optimum")]
)
def test_requests_from_a_prefix_cache_equal_requests_run_whole(
    model_type: str, graph: str, tiny_bundle: Callable[..., Path]
) -> None:
    from edge_agent.llm.generate import Generator, PrefixCache

    lm = OnnxCausalLM(open_bundle(tiny_bundle(model_type, "fp32", graph)))
    prefix = PrefixCache(lm)
    prefix.set(TOKENS)
    cached, whole = Generator(lm, prefix_cache=prefix), Generator(lm)
    # each request writes its own positions after the shared prefix, over the last one's
    for request in ([40, 41, 42], [7], [99, 98, 97, 96, 95], [40, 41, 42]):
        from_prefix = cached.generate([*TOKENS, *request], max_new_tokens=6)
        assert from_prefix.cached_tokens == len(TOKENS)
        run_whole = whole.generate([*TOKENS, *request], max_new_tokens=6)
        assert from_prefix.token_ids == run_whole.token_ids


def test_in_place_kv_grows_past_its_capacity(
    tiny_bundle: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edge_agent.llm.onnx_lm.KV_HEADROOM", 1)
    lm = OnnxCausalLM(open_bundle(tiny_bundle("llama", "fp32")))
    whole, _ = lm.forward(TOKENS, lm.empty_cache(), logits_positions=len(TOKENS))
    logits, cache = lm.forward(TOKENS[:3], lm.empty_cache())
    stores = [cache.store]
    for token in TOKENS[3:]:
        logits, cache = lm.forward([token], cache)
        stores.append(cache.store)
    assert len({id(store) for store in stores}) > 3  # it was reallocated and copied
    np.testing.assert_allclose(logits[-1], whole[-1], rtol=1e-4, atol=1e-4)


def test_reading_an_overwritten_cache_is_an_error(tiny_bundle: Callable[[str, str], Path]) -> None:
    from edge_agent.llm.onnx_lm import StaleCacheError

    lm = OnnxCausalLM(open_bundle(tiny_bundle("llama", "fp32")))
    _, shared = lm.forward(TOKENS[:4], lm.empty_cache())
    _, first = lm.forward([40], shared)
    lm.forward([41], shared)  # writes position 4 again, where ``first`` had 40
    with pytest.raises(StaleCacheError):
        lm.forward([42], first)
    lm.forward([42], shared)  # the shared part itself is intact


def test_long_inputs_run_in_chunks_with_the_same_logits(
    tiny_bundle: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = OnnxCausalLM(open_bundle(tiny_bundle("llama", "fp32")))
    whole, _ = lm.forward(TOKENS, lm.empty_cache(), logits_positions=len(TOKENS))
    monkeypatch.setattr("edge_agent.llm.onnx_lm.PREFILL_CHUNK", 5)
    for positions in (1, 4, 5, 7, len(TOKENS)):  # within the last chunk and across several
        chunked, cache = lm.forward(TOKENS, lm.empty_cache(), logits_positions=positions)
        np.testing.assert_allclose(chunked, whole[-positions:], rtol=1e-4, atol=1e-4)
        assert cache.length == len(TOKENS)
