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
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edge_agent.llm.generate import GrammarError
from edge_agent.llm.onnx_lm import FloatArray

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions
    from tokenizers import Tokenizer


class TokenizerBytesError(Exception):
    """llguidance reads a token's bytes differently from the tokenizer itself."""


def load_ll_tokenizer(
    tokenizer: Tokenizer,
    vocab_size: int,
    eos_ids: Sequence[int],
    slices: Sequence[str] = (),
) -> Any:
    """An llguidance tokenizer over the model's full logits width, sharing ``tokenizer``.

    llguidance is given each token's bytes and our tokenizer's ``encode`` rather than the
    ``tokenizer.json`` path: from a path it parses a second copy of the whole tokenizer
    (Gemma 3: 207 MB resident against 55 MB this way).

    ``slices`` are llguidance's precomputed token subsets; its default set
    (``LLTokenizer.general_slices()``) costs 66 MB on Gemma 3 and speeds up masks inside
    free JSON strings (0.6 instead of 3.7 ms a token), while masks over enumerations and
    numbers, what commands are made of, were faster without (2.5 vs 4.4 ms a command).
    """
    from llguidance import LLTokenizer, TokenizerWrapper

    pieces = token_bytes(tokenizer, vocab_size)
    specials = [i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special]

    class _Source:
        eos_token_id = eos_ids[0]
        bos_token_id = None
        tokens = pieces
        special_token_ids = specials

        def __call__(self, text: str) -> list[int]:
            return list(tokenizer.encode(text, add_special_tokens=False).ids)

    return LLTokenizer(
        TokenizerWrapper(_Source()),
        n_vocab=vocab_size,
        eos_token=list(eos_ids),
        slices=list(slices),
    )


def token_bytes(tokenizer: Tokenizer, vocab_size: int) -> list[bytes]:
    """The bytes each token id stands for (empty for ids the tokenizer does not use).

    Two vocabulary spellings exist in ``tokenizer.json``: byte-level (GPT-2's printable
    stand-ins for every byte: SmolLM2, Llama 3, Qwen) and SentencePiece (``▁`` for a
    space, ``<0xNN>`` pieces for raw bytes: Gemma, Llama 2). Added tokens are their text.
    """
    byte_level = b'"ByteLevel"' in _decoder_state(tokenizer)
    byte_fallback = bool(getattr(tokenizer.model, "byte_fallback", False))
    pieces = [b""] * vocab_size
    # id_to_token one by one: get_vocab() would build a 262k-entry dict (+30 MB at peak).
    for token in range(min(vocab_size, tokenizer.get_vocab_size(with_added_tokens=False))):
        text = tokenizer.id_to_token(token)
        if text is None:
            continue
        if byte_level:
            pieces[token] = bytes(_BYTE_OF_CHAR[c] for c in text)
        elif byte_fallback and len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            pieces[token] = bytes([int(text[3:5], 16)])
        else:
            pieces[token] = text.replace("\u2581", " ").encode()
    for token, added in tokenizer.get_added_tokens_decoder().items():
        if token < vocab_size:
            pieces[token] = added.content.encode()
    # A leading 0xFF is llguidance's marker for special tokens, and never valid UTF-8.
    return [b"" if piece[:1] == b"\xff" else piece for piece in pieces]


def _decoder_state(tokenizer: Tokenizer) -> bytes:
    decoder = tokenizer.decoder
    return bytes(decoder.__getstate__()) if decoder is not None else b""


def _gpt2_byte_map() -> dict[str, int]:
    """GPT-2's reversible map from bytes to printable characters, inverted."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


_BYTE_OF_CHAR = _gpt2_byte_map()


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
