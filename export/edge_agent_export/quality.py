"""The quality report: what quantization cost, measured on a fixed text set.

Per precision: bundle size, top-1 agreement of next-token predictions with the fp32
export (teacher-forced), perplexity, session load time and greedy decode speed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from tokenizers import Tokenizer
from tqdm import tqdm

from edge_agent.llm.bundle import Bundle
from edge_agent.llm.manifest import Manifest
from edge_agent.llm.onnx_lm import OnnxCausalLM, SessionSettings
from edge_agent.llm.scoring import log_softmax

DECODE_TOKENS = 32
BENCH_THREADS = 2


class PrecisionRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    precision: str
    size_bytes: int
    top1_agreement_vs_fp32: float
    """Share of next-token argmaxes equal to the fp32 export's, over every position."""
    perplexity: float
    load_time_s: float
    decode_tokens_per_s: float
    threads: int = BENCH_THREADS


class QualityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    texts: int
    tokens_scored: int
    rows: list[PrecisionRow]


def eval_texts() -> list[str]:
    text = resources.files("edge_agent_export").joinpath("data/eval_texts.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def encode_texts(tokenizer: Tokenizer, manifest: Manifest, texts: Sequence[str]) -> list[list[int]]:
    prefix = (
        [manifest.tokens.bos_id]
        if manifest.tokens.add_bos and manifest.tokens.bos_id is not None
        else []
    )
    return [prefix + tokenizer.encode(text).ids for text in texts]


def teacher_forced(
    lm: OnnxCausalLM, sequences: Sequence[Sequence[int]], label: str
) -> tuple[list[np.ndarray], float, int]:
    """Argmax predictions at every position, total negative log-likelihood, token count."""
    predictions: list[np.ndarray] = []
    nll, count = 0.0, 0
    for ids in tqdm(sequences, desc=f"scoring {label}", unit="text", leave=False):
        logits, _ = lm.forward(ids, lm.empty_cache(), logits_positions=len(ids))
        targets = np.asarray(ids[1:])
        log_probs = log_softmax(logits[:-1])
        nll -= float(log_probs[np.arange(len(targets)), targets].sum())
        count += len(targets)
        predictions.append(log_probs.argmax(axis=-1))
    return predictions, nll, count


def decode_speed(lm: OnnxCausalLM, prompt: Sequence[int], steps: int = DECODE_TOKENS) -> float:
    """Greedy decode tokens per second after ``prompt`` (stop tokens ignored)."""
    logits, cache = lm.forward(prompt, lm.empty_cache())
    lm.forward([int(np.argmax(logits[-1]))], cache)  # warm-up of the one-token path
    started = time.perf_counter()
    for _ in range(steps):
        logits, cache = lm.forward([int(np.argmax(logits[-1]))], cache)
    return steps / (time.perf_counter() - started)


def measure(
    bundle: Bundle, sequences: Sequence[Sequence[int]], reference: list[np.ndarray] | None
) -> tuple[PrecisionRow, list[np.ndarray]]:
    """One row of the report; ``reference`` is fp32's predictions (None: this is fp32)."""
    lm = OnnxCausalLM(bundle, SessionSettings(intra_op_threads=BENCH_THREADS))
    precision = bundle.manifest.quantization.precision
    predictions, nll, count = teacher_forced(lm, sequences, precision)
    reference = reference if reference is not None else predictions
    agree = sum(int((a == b).sum()) for a, b in zip(predictions, reference, strict=True))
    size = sum(
        entry.size_bytes
        for name, entry in bundle.manifest.files.items()
        if name.startswith(Path(bundle.manifest.model_file).stem)
    )
    row = PrecisionRow(
        precision=precision,
        size_bytes=size,
        top1_agreement_vs_fp32=agree / max(count, 1),
        perplexity=float(np.exp(nll / max(count, 1))),
        load_time_s=lm.load_time_s,
        decode_tokens_per_s=decode_speed(lm, sequences[0]),
    )
    return row, predictions
