"""The llama.cpp peer of ``edge-agent bench`` (needs ``llama-cpp-python``; bench only).

The same prompts, cut to the same token counts with llama.cpp's own tokenizer, the
same threads, greedy decoding; the prefix cache is llama.cpp's saved state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.bench import (
    DECODE_TOKENS,
    FILLER,
    PROMPT_LENGTHS,
    REQUEST_TOKENS,
    EngineFigures,
    _median_ms,
    _peak_rss_mb,
)
from edge_agent.llm.bundle import Bundle


def bench_llamacpp(gguf: Path, threads: int, bundle: Bundle) -> EngineFigures:
    from llama_cpp import Llama

    figures = EngineFigures("llama.cpp")
    started = time.perf_counter()
    llm: Any = Llama(model_path=str(gguf), n_threads=threads, n_threads_batch=threads,
                     n_ctx=2048, n_batch=1024, verbose=False)  # fmt: skip
    figures.load_s = time.perf_counter() - started
    add_bos = bundle.manifest.tokens.add_bos
    filler = llm.tokenize(FILLER.encode(), add_bos=False)

    def prompt(length: int) -> list[int]:
        ids = [llm.token_bos()] if add_bos else []
        while len(ids) < length:
            ids += filler
        return ids[:length]

    vocab = llm.n_vocab()

    def first_token(ids: list[int]) -> int:
        llm.eval(ids)
        # Without logits_all, llama-cpp-python keeps no scores: read the context's logits.
        return int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))))

    for length in PROMPT_LENGTHS:
        ids = prompt(length)

        def whole(ids: list[int] = ids) -> int:
            llm.reset()
            return first_token(ids)

        figures.ttft_ms[length] = _median_ms(whole)
        llm.reset()
        llm.eval(ids[:-REQUEST_TOKENS])
        state = llm.save_state()

        def cached(ids: list[int] = ids, state: Any = state) -> int:
            llm.load_state(state)
            return first_token(ids[-REQUEST_TOKENS:])

        figures.ttft_cached_ms[length] = _median_ms(cached, repeats=5)

    llm.reset()
    token = first_token(prompt(50))
    started = time.perf_counter()
    for _ in range(DECODE_TOKENS):
        token = first_token([token])
    figures.decode_tokens_per_s = DECODE_TOKENS / (time.perf_counter() - started)
    figures.peak_rss_mb = _peak_rss_mb()
    return figures
