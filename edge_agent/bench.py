"""``edge-agent bench``: the runtime's speed and memory on one bundle, beside llama.cpp.

Every figure for onnxruntime is measured in this process with the same prompts and
threads as the llama.cpp peer (``llama-cpp-python``, a benchmark-only dependency, run
on the bundle's source GGUF), so the comparisons are ratios taken side by side on the
same busy machine. Medians of a few repetitions.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.llm.bundle import open_bundle
from edge_agent.llm.constraints import GrammarConstraint, json_schema_grammar
from edge_agent.llm.generate import Generator, PrefixCache
from edge_agent.llm.onnx_lm import FloatArray, SessionSettings
from edge_agent.llm.text import TextModel

PROMPT_LENGTHS = (50, 300, 1000)
REQUEST_TOKENS = 20
DECODE_TOKENS = 64
REPEATS = 3
FILLER = (
    "The living room has two floor lamps, a ceiling light with a dimmer and a smart plug "
    "for the television. In the kitchen there are under-cabinet strips, a coffee machine "
    "on a switch and a temperature sensor near the window. The bedroom blinds open at "
    "seven on weekdays, the hallway thermostat keeps twenty degrees, and the garage door "
    "reports whether it is open or closed. "
)
COMMAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"enum": ["turn_on", "turn_off", "set_brightness", "open", "close", "none"]},
        "device": {"enum": ["Living Room Floor Lamp", "Kitchen Strips", "Bedroom Blinds",
                            "Hallway Thermostat", "Garage Door", "Coffee Machine"]},
        "value": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["intent", "device"],
    "additionalProperties": False,
}  # fmt: skip
COMMAND_PROMPT = "Dim the living room floor lamp to forty percent. Answer as JSON:"


@dataclass
class EngineFigures:
    engine: str
    load_s: float = 0.0
    ttft_ms: dict[int, float] = field(default_factory=dict)
    """Time to first token for a prompt of N tokens, run whole."""
    ttft_cached_ms: dict[int, float] = field(default_factory=dict)
    """Time to first token for N tokens of which all but the last 20 are a cached prefix."""
    decode_tokens_per_s: float = 0.0
    peak_rss_mb: float = 0.0
    constrained: dict[str, float] = field(default_factory=dict)
    prefix_consistency: float | None = None
    """Share of requests whose greedy output is the same run from the prefix cache as run
    whole (dynamic int8 quantizes activations per call, so the two can differ)."""


def _median_ms(run: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _prompt_ids(encode: Callable[[str], list[int]], bos: list[int], length: int) -> list[int]:
    ids = list(bos)
    while len(ids) < length:
        ids += encode(FILLER)
    return ids[:length]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _TimedConstraint:
    """Wraps a constraint and adds up the time spent inside it."""

    def __init__(self, inner: GrammarConstraint) -> None:
        self.inner, self.seconds = inner, 0.0

    def _timed(self, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds += time.perf_counter() - started

    def forced_tokens(self) -> list[int]:
        return self._timed(self.inner.forced_tokens)  # type: ignore[no-any-return]

    def mask(self, logits: FloatArray) -> None:
        self._timed(lambda: self.inner.mask(logits))

    def advance(self, token: int) -> None:
        self._timed(lambda: self.inner.advance(token))

    def is_finished(self) -> bool:
        return self._timed(self.inner.is_finished)  # type: ignore[no-any-return]


def bench_onnxruntime(bundle_dir: Path, threads: int) -> EngineFigures:
    figures = EngineFigures("onnxruntime")
    started = time.perf_counter()
    model = TextModel.load(open_bundle(bundle_dir, verify="size"),
                           SessionSettings(intra_op_threads=threads))  # fmt: skip
    figures.load_s = time.perf_counter() - started
    manifest, lm = model.bundle.manifest, model.lm
    bos = [manifest.tokens.bos_id] if manifest.tokens.add_bos and manifest.tokens.bos_id else []

    def encode(text: str) -> list[int]:
        return list(model.tokenizer.encode(text).ids)

    prefix = PrefixCache(lm)
    generator = Generator(lm, decode=model.tokenizer.decode, prefix_cache=prefix)
    for length in (n for n in PROMPT_LENGTHS if n < lm.context_length):
        ids = _prompt_ids(encode, bos, length)

        def whole(ids: list[int] = ids) -> int:
            return int(np.argmax(lm.forward(ids, lm.empty_cache())[0][-1]))

        def cached(ids: list[int] = ids) -> object:
            return generator.generate(ids, max_new_tokens=1)

        figures.ttft_ms[length] = _median_ms(whole)
        prefix.set(ids[:-REQUEST_TOKENS])
        figures.ttft_cached_ms[length] = _median_ms(cached, repeats=5)
    prefix.clear()

    ids = _prompt_ids(encode, bos, 50)
    logits, cache = lm.forward(ids, lm.empty_cache())
    started = time.perf_counter()
    for _ in range(DECODE_TOKENS):
        logits, cache = lm.forward([int(np.argmax(logits[-1]))], cache)
    figures.decode_tokens_per_s = DECODE_TOKENS / (time.perf_counter() - started)

    figures.constrained = _constrained(model, generator, bos)
    figures.prefix_consistency = _prefix_consistency(generator, prefix, encode, bos)
    figures.peak_rss_mb = _peak_rss_mb()
    return figures


REQUESTS = (
    "Turn off the kitchen strips.", "Is the garage door open?", "Open the bedroom blinds.",
    "Set the hallway to twenty one degrees.", "Dim the floor lamp a little.",
    "Start the coffee machine, please.", "What is the temperature in the kitchen?",
    "Close everything downstairs.",
)  # fmt: skip


def _prefix_consistency(
    generator: Generator, prefix: PrefixCache, encode: Callable[[str], list[int]], bos: list[int]
) -> float:
    head = _prompt_ids(encode, bos, 200)
    prefix.set(head)
    same = 0
    for request in REQUESTS:
        ids = head + encode(" " + request)
        cached = generator.generate(ids, max_new_tokens=12).token_ids
        prefix.clear()
        whole = generator.generate(ids, max_new_tokens=12).token_ids
        prefix.set(head)
        same += cached == whole
    prefix.clear()
    return same / len(REQUESTS)


def _constrained(model: TextModel, generator: Generator, bos: list[int]) -> dict[str, float]:
    manifest = model.bundle.manifest
    grammar = json_schema_grammar(COMMAND_SCHEMA)
    constraint = _TimedConstraint(GrammarConstraint(model.grammar_tokenizer(), grammar))
    prompt = bos + list(model.tokenizer.encode(COMMAND_PROMPT).ids)
    runs = []
    for _ in range(REPEATS):
        constraint.inner.reset()
        constraint.seconds = 0.0
        result = generator.generate(prompt, max_new_tokens=48, constraint=constraint)
        runs.append((result, constraint.seconds))
    result, constraint_s = runs[len(runs) // 2]
    free = generator.generate(prompt, max_new_tokens=len(result.token_ids),
                              stop_ids=manifest.tokens.stop_ids)  # fmt: skip
    free_tps = len(free.token_ids) / free.decode_s if free.decode_s else 0.0
    return {
        "tokens": len(result.token_ids),
        "forced_tokens": result.forced_tokens,
        "forced_share": result.forced_tokens / max(len(result.token_ids), 1),
        "constraint_share_of_decode": constraint_s / result.decode_s if result.decode_s else 0.0,
        "constrained_tokens_per_s": len(result.token_ids) / result.decode_s,
        "unconstrained_tokens_per_s": free_tps,
        "command_ms": (result.prefill_s + result.decode_s) * 1000,
    }


def bench(bundle_dir: Path, gguf: Path | None, threads: int) -> list[EngineFigures]:
    rows = [bench_onnxruntime(bundle_dir, threads)]
    if gguf is not None:
        from edge_agent.bench_llamacpp import bench_llamacpp

        rows.append(bench_llamacpp(gguf, threads, open_bundle(bundle_dir, verify="size")))
    return rows


def report(rows: list[EngineFigures], as_json: bool) -> str:
    if as_json:
        return json.dumps([asdict(r) for r in rows], indent=2)
    lines = []
    for row in rows:
        lines.append(
            f"{row.engine}: load {row.load_s:.2f} s, decode {row.decode_tokens_per_s:.1f} "
            f"tokens/s, peak RSS {row.peak_rss_mb:.0f} MB"
        )
        for n in PROMPT_LENGTHS:
            cached = row.ttft_cached_ms.get(n)
            lines.append(
                f"  time to first token, {n:>4} tokens: {row.ttft_ms.get(n, 0):7.1f} ms"
                + (
                    f"; {n - REQUEST_TOKENS} cached + {REQUEST_TOKENS}: {cached:6.1f} ms"
                    if cached is not None
                    else ""
                )
            )
        if row.prefix_consistency is not None:
            lines.append(
                f"  prefix cache: same greedy output as the whole prompt for "
                f"{row.prefix_consistency:.0%} of {len(REQUESTS)} requests"
            )
        if row.constrained:
            c = row.constrained
            lines.append(
                f"  constrained command: {c['tokens']:.0f} tokens, {c['forced_share']:.0%} "
                f"fast-forwarded, constraint {c['constraint_share_of_decode']:.1%} of decode "
                f"time, {c['constrained_tokens_per_s']:.1f} tokens/s vs "
                f"{c['unconstrained_tokens_per_s']:.1f} unconstrained, "
                f"{c['command_ms']:.0f} ms in all"
            )
    if len(rows) == 2:
        ours, peer = rows
        lines.append(
            f"decode speed, onnxruntime / llama.cpp: "
            f"{ours.decode_tokens_per_s / peer.decode_tokens_per_s:.2f}x"
        )
    return "\n".join(lines)
