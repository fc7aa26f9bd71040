"""A causal LM behind an onnxruntime session, stepped with an explicit KV cache."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge_agent.llm.bundle import Bundle

_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SessionSettings:
    """How onnxruntime runs the model."""

    intra_op_threads: int = 0
    """Threads per operator; 0 lets onnxruntime choose (all cores)."""
    optimization: str = "all"
    """Graph optimization level: disable, basic, extended or all."""
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


@dataclass
class KVCache:
    """Keys and values of every layer for the tokens seen so far."""

    keys: list[FloatArray]
    values: list[FloatArray]
    length: int = 0
    tokens: list[int] = field(default_factory=list)


class ContextOverflowError(ValueError):
    """The prompt plus the tokens to generate do not fit in the model's context."""


class OnnxCausalLM:
    """Runs a bundle's decoder graph; knows token ids only, never text."""

    def __init__(self, bundle: Bundle, settings: SessionSettings | None = None) -> None:
        settings = settings or SessionSettings()
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = _OPT_LEVELS[settings.optimization]
        available = set(ort.get_available_providers())
        providers = [p for p in settings.providers if p in available] or ["CPUExecutionProvider"]
        started = time.perf_counter()
        self.session = ort.InferenceSession(
            str(bundle.model_path), sess_options=options, providers=providers
        )
        self.load_time_s = time.perf_counter() - started
        self.manifest = bundle.manifest
        self.io = bundle.manifest.io
        arch = bundle.manifest.architecture
        self._kv_shape = (1, arch.num_kv_heads, 0, arch.head_dim)
        self.context_length = arch.max_position_embeddings
        self._output_names = [
            self.io.logits,
            *self._interleaved(self.io.present_keys, self.io.present_values),
        ]

    @staticmethod
    def _interleaved(keys: Sequence[str], values: Sequence[str]) -> list[str]:
        return [name for pair in zip(keys, values, strict=True) for name in pair]

    def empty_cache(self) -> KVCache:
        layers = len(self.io.past_keys)
        empty = np.zeros(self._kv_shape, dtype=np.float32)
        return KVCache(keys=[empty] * layers, values=[empty] * layers)

    def forward(
        self, token_ids: Sequence[int], cache: KVCache, logits_positions: int = 1
    ) -> tuple[FloatArray, KVCache]:
        """Run ``token_ids`` after ``cache``; return the last logits and the new cache."""
        count = len(token_ids)
        total = cache.length + count
        if total > self.context_length:
            raise ContextOverflowError(
                f"{total} tokens do not fit in the model's context of {self.context_length}; "
                "shorten the prompt (or the device list) or lower max_new_tokens"
            )
        feeds: dict[str, npt.NDArray[np.generic]] = {
            self.io.input_ids: np.asarray([token_ids], dtype=np.int64),
            self.io.attention_mask: np.ones((1, total), dtype=np.int64),
        }
        if self.io.position_ids is not None:
            feeds[self.io.position_ids] = np.arange(cache.length, total, dtype=np.int64)[None, :]
        if self.io.logits_positions is not None:
            feeds[self.io.logits_positions] = np.asarray([logits_positions], dtype=np.int64)
        for name, array in zip(self.io.past_keys, cache.keys, strict=True):
            feeds[name] = array
        for name, array in zip(self.io.past_values, cache.values, strict=True):
            feeds[name] = array
        outputs = self.session.run(self._output_names, feeds)
        logits = np.asarray(outputs[0][0, -logits_positions:], dtype=np.float32)
        presents = outputs[1:]
        new_cache = KVCache(
            keys=list(presents[0::2]),
            values=list(presents[1::2]),
            length=total,
            tokens=[*cache.tokens, *token_ids],
        )
        return logits, new_cache
