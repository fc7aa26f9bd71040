"""Grammar-constrained decoding with llguidance.

Why llguidance: it is the maintained engine behind the structured output of
llama.cpp, vLLM and onnxruntime-genai; it needs only a ``tokenizer.json`` (no
transformers), takes Lark grammars and JSON schemas (so enumerations known only at
run time, such as device names, are a JSON ``enum`` or a Lark alternative), computes
a token mask in about a millisecond and reports the tokens a grammar forces, which the
generation loop appends without sampling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge_agent.llm.generate import GrammarError
from edge_agent.llm.onnx_lm import FloatArray

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions


class TokenizerBytesError(Exception):
    """llguidance reads a token's bytes differently from the tokenizer itself."""


def load_ll_tokenizer(tokenizer_json: Path, vocab_size: int, eos_ids: Sequence[int]) -> Any:
    """An llguidance tokenizer over the model's full logits width."""
    from llguidance import LLTokenizer

    return LLTokenizer(str(tokenizer_json), n_vocab=vocab_size, eos_token=list(eos_ids))


def json_schema_grammar(schema: dict[str, Any], *, compact: bool = True) -> str:
    """A grammar for JSON matching ``schema``; compact JSON forces more of its tokens."""
    from llguidance import LLMatcher

    if not compact:
        return str(LLMatcher.grammar_from_json_schema(json.dumps(schema)))
    compact_json: JsonCompileOptions = {"whitespace_flexible": False}
    return str(LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=compact_json))


def lark_grammar(lark: str) -> str:
    from llguidance import LLMatcher

    return str(LLMatcher.grammar_from_lark(lark))


class GrammarConstraint:
    """A :class:`~edge_agent.llm.generate.Constraint` backed by one reusable LLMatcher."""

    def __init__(self, ll_tokenizer: Any, grammar: str) -> None:
        from llguidance import LLMatcher

        self._matcher = LLMatcher(ll_tokenizer, grammar, log_level=0)
        if self._matcher.is_error():
            raise GrammarError(f"invalid grammar: {self._matcher.get_error()}")
        self._words = (int(ll_tokenizer.vocab_size) + 31) // 32
        self._bitmask = np.zeros(self._words, dtype=np.int32)

    def reset(self) -> None:
        """Start again from the grammar's beginning (cheaper than a new matcher)."""
        self._matcher.reset()

    def forced_tokens(self) -> list[int]:
        return list(self._matcher.compute_ff_tokens())

    def allowed(self) -> npt.NDArray[np.bool_]:
        self._matcher.unsafe_compute_mask_ptr(self._bitmask.ctypes.data, self._bitmask.nbytes)
        self._check()
        return np.unpackbits(self._bitmask.view(np.uint8), bitorder="little").astype(bool)

    def mask(self, logits: FloatArray) -> None:
        allowed = self.allowed()[: logits.shape[-1]]
        logits[: allowed.size][~allowed] = -np.inf
        logits[allowed.size :] = -np.inf

    def advance(self, token: int) -> None:
        if not self._matcher.consume_token(token):
            self._check()
            raise GrammarError(f"token {token} is not allowed by the grammar")

    def is_finished(self) -> bool:
        return bool(self._matcher.is_stopped())

    def is_accepting(self) -> bool:
        return bool(self._matcher.is_accepting())

    def _check(self) -> None:
        if self._matcher.is_error():
            raise GrammarError(self._matcher.get_error())


def check_token_bytes(ll_tokenizer: Any, tokenizer: Any, sample: Sequence[int]) -> None:
    """Raise if llguidance's bytes for a token differ from the tokenizer's decoding.

    A misread decoder makes a grammar match the wrong text (SmolLM2's composite
    decoder turned "Bedroom Lamp" into "BedroomĠLamp"). Tokens are checked in pairs
    after a plain letter, since decoders strip a leading space from the first token.
    """
    anchor = tokenizer.encode("a").ids[-1:]
    for token in sample:
        expected = tokenizer.decode([*anchor, token], skip_special_tokens=False)
        got = ll_tokenizer.decode_bytes([*anchor, token]).decode("utf-8", errors="replace")
        if "\ufffd" in expected or ll_tokenizer.is_special_token(token):
            continue
        if got != expected:
            raise TokenizerBytesError(f"token {token}: tokenizer {expected!r}, llguidance {got!r}")
