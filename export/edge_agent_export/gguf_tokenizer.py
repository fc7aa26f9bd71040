"""Tokenizers rebuilt from a GGUF file's own vocabulary.

transformers turns a SentencePiece-style GGUF vocabulary (``tokenizer.ggml.model =
llama``, as in Gemma 3) into a Unigram model that treats the rank-like scores as
log-probabilities, so "capital" comes out as ``c ap it al``. SentencePiece models of
the BPE kind are encoded by repeatedly merging the adjacent pair whose union scores
highest; this module writes exactly that as a Hugging Face ``tokenizers`` BPE model:
one merge for every way a vocabulary piece splits into two pieces, ranked by the
merged piece's score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

# SentencePiece piece types as stored in tokenizer.ggml.token_type.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPACE = "\u2581"  # SentencePiece's visible space


@dataclass(frozen=True)
class GGUFVocab:
    model: str
    tokens: list[str]
    scores: list[float]
    types: list[int]
    merges: list[str]
    bos_id: int | None
    eos_id: int | None
    unk_id: int | None
    pad_id: int | None
    add_bos: bool
    add_space_prefix: bool
    chat_template: str | None


def read_vocab(path: Path) -> GGUFVocab:
    """Read the tokenizer fields of a GGUF file."""

    fields = GGUFReader(str(path)).fields

    def array(key: str) -> list[Any]:
        field = fields.get(key)
        if field is None:
            return []
        parts = [field.parts[i] for i in field.data]
        if field.types[-1] == GGUFValueType.STRING:
            return [bytes(part).decode("utf-8") for part in parts]
        return np.concatenate(parts).tolist() if parts else []

    def scalar(key: str) -> Any:
        field = fields.get(key)
        return None if field is None else field.contents()

    def optional_int(key: str) -> int | None:
        value = scalar(key)
        return None if value is None else int(value)

    tokens = array("tokenizer.ggml.tokens")
    return GGUFVocab(
        model=str(scalar("tokenizer.ggml.model") or ""),
        tokens=tokens,
        scores=[float(s) for s in array("tokenizer.ggml.scores")] or [0.0] * len(tokens),
        types=[int(t) for t in array("tokenizer.ggml.token_type")] or [NORMAL] * len(tokens),
        merges=array("tokenizer.ggml.merges"),
        bos_id=optional_int("tokenizer.ggml.bos_token_id"),
        eos_id=optional_int("tokenizer.ggml.eos_token_id"),
        unk_id=optional_int("tokenizer.ggml.unknown_token_id"),
        pad_id=optional_int("tokenizer.ggml.padding_token_id"),
        add_bos=bool(scalar("tokenizer.ggml.add_bos_token")),
        add_space_prefix=bool(scalar("tokenizer.ggml.add_space_prefix")),
        chat_template=scalar("tokenizer.chat_template"),
    )


def derive_merges(vocab: GGUFVocab) -> list[tuple[str, str]]:
    """Every split of a normal piece into two normal pieces, best-scoring union first."""
    ids = {tok: i for i, tok in enumerate(vocab.tokens) if vocab.types[i] == NORMAL}
    ranked: list[tuple[float, int, int, str, str]] = []
    for piece, piece_id in ids.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            left_id, right_id = ids.get(left), ids.get(right)
            if left_id is not None and right_id is not None:
                ranked.append((-vocab.scores[piece_id], left_id, right_id, left, right))
    ranked.sort()
    return [(left, right) for _, _, _, left, right in ranked]


def sentencepiece_bpe_tokenizer(vocab: GGUFVocab) -> Tokenizer:
    """A ``tokenizers`` BPE equivalent of a SentencePiece BPE vocabulary (Gemma's kind)."""
    if vocab.model != "llama":
        raise ValueError(f"expected a SentencePiece ('llama') vocabulary, got {vocab.model!r}")
    unk = vocab.tokens[vocab.unk_id] if vocab.unk_id is not None else None
    bpe = models.BPE(
        vocab={tok: i for i, tok in enumerate(vocab.tokens)},
        merges=derive_merges(vocab),
        unk_token=unk,
        byte_fallback=True,
        fuse_unk=True,
    )
    tokenizer = Tokenizer(bpe)
    steps: list[normalizers.Normalizer] = []
    if vocab.add_space_prefix:
        steps.append(normalizers.Prepend(SPACE))
    steps.append(normalizers.Replace(" ", SPACE))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
        + ([decoders.Strip(" ", 1, 0)] if vocab.add_space_prefix else [])
    )
    # Control tokens (<bos>, <start_of_turn>) are parsed from chat-template text as in
    # the reference Hugging Face tokenizers. User-defined pieces ("\n\n", tabs, tags) are
    # matched whole in the raw text before normalization, as SentencePiece's normalizer
    # does; so "▁▁" matches a literal "▁▁", never two spaces.
    tokenizer.add_special_tokens(
        [
            AddedToken(tok, special=True, normalized=False)
            for tok, kind in zip(vocab.tokens, vocab.types, strict=True)
            if kind in (CONTROL, UNKNOWN)
        ]
    )
    tokenizer.add_tokens(
        [
            AddedToken(tok, special=False, normalized=False)
            for tok, kind in zip(vocab.tokens, vocab.types, strict=True)
            if kind == USER_DEFINED
        ]
    )
    return tokenizer
